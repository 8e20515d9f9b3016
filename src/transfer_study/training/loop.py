"""One training job: an experiment dict, a seed, the preprocessed arrays -> model, history, summary.

Everything here is plain Keras 3 (`keras`, `keras.ops`), so it runs unchanged on the TensorFlow, JAX and
PyTorch backends. A job killed mid-way resumes from its last backed-up epoch (backups are spaced in
time, see PeriodicBackup): Keras's BackupAndRestore keeps the weights and optimizer state, and this
module keeps what that callback does not (the per-epoch history and the early-stopping state). Every
epoch's randomness (shuffling, dropout, augmentation) is derived from (seed, epoch) alone, so a resumed
run repeats exactly what an uninterrupted one would do.

When the layers in front of the first trainable one are frozen and deterministic, their output is
computed once per split and only the rest of the model trains on it (caching.py); the model returned
and saved is still the whole model. `precision` picks the Keras dtype policy the model is built under,
`jit_compile` is passed to `compile`.

A backup is keyed by what made it: the experiment as the job's params give it (every setting the
training depends on), the files the job read (its `produced_by`: the data and the weights) and the
model it trains. A backup of anything else is set aside, renamed with the reason beside it rather than
deleted, and the job starts afresh and says so; run settings that change no result
(`backup_every_seconds`) are no part of the key, so changing them resumes as before.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import keras
import numpy as np

from transfer_study.digests import digest
from transfer_study.files import write_atomically
from transfer_study.models.build import build_model
from transfer_study.training.batches import OrderedBatches
from transfer_study.training.caching import CachePlan, plan_frozen_cache
from transfer_study.training.history import HISTORY_COLUMNS, read_history, write_history
from transfer_study.training.weighting import class_weights, sample_weights

PARTIAL_HISTORY = "history.partial.csv"
# The model's weights alone (no optimizer state), as NumPy arrays in an .npz read without pickle.
BEST_WEIGHTS = "best_weights.npz"
BACKUP_FORMAT = 2  # 2: best weights in BEST_WEIGHTS; a backup of another format is not resumed
BACKUP_METADATA = "training_metadata.json"  # written by keras.callbacks.BackupAndRestore
# Which model the backup's weights belong to: the whole model, or the tail behind a frozen cache.
TRAINED_MODEL = "trained_model.json"
SET_ASIDE_REASON = "SET_ASIDE.txt"

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
JIT_COMPILE = (True, False, "auto")


class ShuffledBatches(keras.utils.PyDataset):
    """Training batches in an order that depends only on (seed, epoch).

    Keras shuffles NumPy inputs with the backend's own stateful generator, whose state a resumed
    process cannot recover; this dataset makes the order a pure function of the epoch instead.
    """

    def __init__(self, x, y, batch_size: int, seed: int, sample_weight=None):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.sample_weight = sample_weight
        self.order = np.arange(len(x))
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        if self.sample_weight is None:
            return self.x[rows], self.y[rows]
        return self.x[rows], self.y[rows], self.sample_weight[rows]


def seed_states(model: keras.Model) -> list:
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


class EpochRandomness(keras.callbacks.Callback):
    """Before each epoch, reseed the data order and every seed generator from (seed, epoch).

    The generators are numbered in the order of `numbering` (the whole model), so that training only
    the tail of a model behind a frozen cache seeds each generator as training the whole model would.
    """

    # Each generator advances by one per call; epochs are spaced far apart so they never overlap.
    EPOCH_STRIDE = 1 << 20

    def __init__(self, dataset: ShuffledBatches, seed: int, numbering: keras.Model | None = None):
        super().__init__()
        self.dataset, self.seed = dataset, seed
        self.numbers = None if numbering is None else {id(v): i for i, v in enumerate(seed_states(numbering))}

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.set_epoch(epoch)
        for position, state in enumerate(seed_states(self.model)):
            index = position if self.numbers is None else self.numbers[id(state)]
            value = np.array([self.seed * 1000 + index, epoch * self.EPOCH_STRIDE])
            state.assign(value.astype(keras.backend.standardize_dtype(state.dtype)))


class HistoryRecorder(keras.callbacks.Callback):
    """Per-epoch metrics and seconds, saved after every epoch so a resumed job keeps them.

    A loss that is not finite stops training: the rows so far stay, and the run is marked diverged.
    """

    def __init__(self, rows: list[dict], partial_path: Path):
        super().__init__()
        self.rows, self.partial_path = rows, partial_path
        self.diverged = False
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        row = {"epoch": epoch + 1, "seconds": time.perf_counter() - self._started}
        row.update({key: float(logs[key]) for key in HISTORY_COLUMNS[1:5] if key in logs})
        self.rows.append(row)
        write_history(self.partial_path, self.rows)
        if not math.isfinite(row.get("loss", 0.0)):
            self.diverged = True
            self.model.stop_training = True


class ResumableEarlyStopping(keras.callbacks.Callback):
    """Early stopping on val_loss whose state can be rebuilt from the history after a restart.

    The best weights are kept in memory and written to `best_path` only when a backup is made
    (`persist`), so an epoch that improves costs no write of its own.
    """

    def __init__(self, patience: int, restore_best: bool, rows: list[dict], best_path: Path):
        super().__init__()
        self.patience, self.restore_best, self.best_path = patience, restore_best, best_path
        self.best_epoch, self.best = 0, math.inf
        self.best_weights = None  # of best_epoch, when this process trained it; else in best_path
        self.unsaved = False
        for row in rows:  # replay the epochs a previous process already ran
            self._update(row)

    def _update(self, row: dict) -> bool:
        improved = row.get("val_loss", math.inf) < self.best
        if improved:
            self.best, self.best_epoch = row["val_loss"], row["epoch"]
        return improved

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, "val_loss": float((logs or {}).get("val_loss", math.inf))}
        if self._update(row) and self.restore_best:
            self.best_weights = [np.array(w) for w in self.model.get_weights()]
            self.unsaved = True
        if epoch + 1 - self.best_epoch >= self.patience:
            self.model.stop_training = True

    def persist(self) -> None:
        """Write the best weights so far, before a backup marks their epoch as done."""
        if self.unsaved:
            write_atomically(self.best_path, self._save_best)
            self.unsaved = False

    def _save_best(self, path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, *self.best_weights)

    def restore(self) -> None:
        """Put the best epoch's weights back into the model (its optimizer state stays as it is)."""
        if not self.restore_best:
            return
        if self.best_weights is None and self.best_path.exists():
            with np.load(self.best_path, allow_pickle=False) as saved:
                self.best_weights = [saved[f"arr_{index}"] for index in range(len(saved.files))]
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class PeriodicBackup(keras.callbacks.BackupAndRestore):
    """Keras's BackupAndRestore, written at most once per `every_seconds` of training (0: every epoch).

    A backup holds the weights and optimizer state (for VGG16 about 160 MB), so writing one after every
    short epoch costs more than the epoch. Resuming stays exact: every epoch's randomness depends only
    on (seed, epoch), and the history and early-stopping state are cut back to the backup's epoch.
    """

    clock = staticmethod(time.monotonic)

    def __init__(self, backup_dir: str, every_seconds: float, stopping: ResumableEarlyStopping | None):
        super().__init__(backup_dir, delete_checkpoint=False)
        self.every_seconds, self.stopping = every_seconds, stopping
        self.last = self.clock()
        self.seconds_writing = 0.0

    def on_epoch_end(self, epoch, logs=None):
        if self.clock() - self.last < self.every_seconds:
            return
        started = time.perf_counter()
        if self.stopping is not None:
            self.stopping.persist()
        super().on_epoch_end(epoch, logs)
        self.seconds_writing += time.perf_counter() - started
        self.last = self.clock()


def resume_point(backup_dir: Path) -> tuple[int, list[dict]]:
    """Epochs already finished by an interrupted run, and their history rows."""
    metadata = backup_dir / BACKUP_METADATA
    partial = backup_dir / PARTIAL_HISTORY
    if not metadata.exists() or not partial.exists():
        return 0, []
    finished = int(json.loads(metadata.read_text())["epoch"])
    # The history is written before the backup each epoch, so it may hold one epoch more.
    return finished, read_history(partial)[:finished]


def make_optimizer(spec: dict) -> keras.optimizers.Optimizer:
    optimizers = {
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    return optimizers[spec.get("name", "adam")](learning_rate=spec.get("learning_rate", 1e-3))


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return keras.utils.to_categorical(labels, num_classes).astype("float32")


def compile_model(model: keras.Model, experiment: dict, optimizer=None) -> None:
    """Adam/SGD/RMSprop, cross-entropy, accuracy; `optimizer` shares an existing optimizer object."""
    jit_compile = experiment.get("jit_compile", "auto")
    if jit_compile not in JIT_COMPILE:
        raise ValueError(f"jit_compile must be one of true, false, auto; got {jit_compile!r}")
    model.compile(
        optimizer=make_optimizer(experiment.get("optimizer", {})) if optimizer is None else optimizer,
        loss=keras.losses.CategoricalCrossentropy(),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )


@contextmanager
def dtype_policy(precision: str):
    """Build (and train) under the Keras dtype policy `precision`; the previous one is put back after."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def train(
    experiment: dict,
    seed: int,
    arrays: dict,
    weights_path: str | None,
    backup_dir: Path,
    log=print,
    extra_callbacks: list | None = None,
    backup_every_seconds: float = 0.0,
    produced_by: dict | None = None,
    warn=None,
) -> tuple[keras.Model, list[dict], dict]:
    """Train one experiment with one seed; returns (the whole model, history rows, summary).

    `extra_callbacks` run after all of ours (the benchmarks time whole epochs with one).
    `backup_every_seconds` spaces the resume backups (0: after every epoch); see PeriodicBackup.
    `produced_by` identifies the job's input files (see input_stamps), part of the backup's key;
    `warn` says what the user must see (a backup set aside), by default through `log`.
    """
    key = {"experiment": experiment, "seed": seed, "inputs": produced_by or {}}
    with dtype_policy(experiment.get("precision", "float32")):
        return _train(
            experiment, seed, arrays, weights_path, Path(backup_dir), log, extra_callbacks or [],
            backup_every_seconds, key, warn or log,
        )  # fmt: skip


def input_stamps(**paths) -> dict:
    """Each input file's size and modification time: a file made again (new data, other weights) has a
    new stamp, and a backup made from the old one is not resumed."""
    stamps = {}
    for name, path in paths.items():
        if path is not None:
            status = Path(path).stat()
            stamps[name] = [status.st_size, status.st_mtime_ns]
    return stamps


def _train(
    experiment, seed, arrays, weights_path, backup_dir: Path, log, extra_callbacks, backup_every, key, warn
):
    num_classes = experiment["num_classes"]
    batch_size = experiment["batch_size"]
    backup_dir.mkdir(parents=True, exist_ok=True)
    phases = Stopwatch()

    class_names = list(arrays.get("class_names") or map(str, range(num_classes)))
    weights_per_class = class_weights(experiment.get("class_weight"), arrays["y_train"], class_names)
    if weights_per_class is not None:
        log("class weights: " + ", ".join(f"{name} {w:.3g}" for name, w in weights_per_class.items()))
    model = build_model(experiment, num_classes, weights_path)
    phases.lap("build")
    images = len(arrays["x_train"]) + len(arrays["x_validation"])
    plan = plan_frozen_cache(model, images, experiment.get("cache_frozen", True))
    log(f"frozen cache {'used' if plan.used else 'not used'}: {plan.reason}")
    # The model that fit() trains: the tail behind the cache (sharing the model's layers), or the model.
    trained = plan.split.tail if plan.used else model
    _claim_backup(backup_dir, {**_trained_model_identity(plan, trained), **_key_digests(key)}, warn)
    start_epoch, rows = resume_point(backup_dir)
    if start_epoch:
        log(f"resuming after epoch {start_epoch} from {backup_dir}")

    compile_model(trained, experiment)
    if trained is not model:  # the returned model carries the optimizer that trained it
        compile_model(model, experiment, optimizer=trained.optimizer)
    # Optimizer slots in the order of the whole model's variables, whichever part trains, so the
    # optimizer state (and the backup that holds it) reads back the same either way.
    trained.optimizer.build(model.trainable_variables)
    phases.lap("compile")

    recorder = HistoryRecorder(rows, backup_dir / PARTIAL_HISTORY)
    stopping = None
    if experiment.get("early_stopping"):
        stopping = ResumableEarlyStopping(
            experiment["early_stopping"]["patience"],
            experiment["early_stopping"].get("restore_best_weights", True),
            rows,
            backup_dir / BEST_WEIGHTS,
        )

    started = time.perf_counter()
    seconds_to_cache = 0.0
    backup = None
    already_done = start_epoch >= experiment["epochs"] or _stopped_early(stopping, rows)
    if not already_done:
        # Frozen features go to a scratch folder (the job's temporary space), for this process only: made
        # again on a resume, never shared with another job, removed when fit() returns or fails.
        with tempfile.TemporaryDirectory(prefix="transfer-study-features.") as scratch:
            x_train, x_validation = arrays["x_train"], arrays["x_validation"]
            if plan.used:
                x_train = plan.split.features(x_train, batch_size, Path(scratch) / "train.npy")
                x_validation = plan.split.features(x_validation, batch_size, Path(scratch) / "validation.npy")
                seconds_to_cache = time.perf_counter() - started
                log(f"cached {x_train.shape[1:]} features of {images} images in {seconds_to_cache:.1f} s")
                phases.lap("cache")
            batches = ShuffledBatches(
                x_train, one_hot(arrays["y_train"], num_classes), batch_size, seed,
                sample_weight=sample_weights(weights_per_class, arrays["y_train"], class_names),
            )  # fmt: skip
            validation = OrderedBatches(
                x_validation, one_hot(arrays["y_validation"], num_classes), batch_size
            )
            callbacks = [EpochRandomness(batches, seed, numbering=model), recorder]
            if stopping is not None:
                callbacks.append(stopping)
            # Last, so that each epoch's history is on disk before the backup that marks the epoch done.
            backup = PeriodicBackup(str(backup_dir), backup_every, stopping)
            callbacks.append(backup)
            callbacks += extra_callbacks
            trained.fit(
                batches,
                validation_data=validation,
                batch_size=batch_size,
                epochs=experiment["epochs"],
                callbacks=callbacks,
                shuffle=False,
                verbose=2,
            )
    else:  # killed after its last epoch but before its outputs were written
        trained.load_weights(backup_dir / "latest.weights.h5")
    phases.lap("fit")
    if stopping is not None:
        stopping.set_model(trained)
        stopping.restore()
    kept_epoch = stopping.best_epoch if stopping and stopping.restore_best else len(rows)
    summary = {
        "seed": seed,
        "epochs_run": len(rows),
        "epochs_max": experiment["epochs"],
        "kept_epoch": kept_epoch,
        "best_epoch": _best_epoch(rows),
        "stopped_early": bool(rows) and len(rows) < experiment["epochs"] and not recorder.diverged,
        "diverged": recorder.diverged or _any_nonfinite(rows),
        "resumed_after_epoch": start_epoch,
        "wall_seconds_this_run": time.perf_counter() - started,
        "train_seconds": sum(row["seconds"] for row in rows),
        "seconds_per_epoch": (sum(row["seconds"] for row in rows) / len(rows)) if rows else None,
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "total_params": int(sum(np.prod(w.shape) for w in model.weights)),
        "train_images": int(len(arrays["x_train"])),
        "class_weight": weights_per_class,
        "precision": keras.config.dtype_policy().name,
        "jit_compile": trained.jit_compile,
        "frozen_cache": {
            "used": plan.used,
            "reason": plan.reason,
            "cached_layers": plan.split.cached_layers if plan.used else 0,
            "seconds_to_cache": seconds_to_cache,
        },
        # Where this process spent its time; "fit" holds the epochs (train_seconds) and the backups.
        "phases": {**phases.seconds, "backups": backup.seconds_writing if backup else 0.0},
        "backup_every_seconds": backup_every,
    }
    return model, rows, summary


def _trained_model_identity(plan: CachePlan, trained: keras.Model) -> dict:
    return {
        "model": trained.name,
        "cached_up_to": plan.split.cut_layer if plan.used else None,
        "backup_format": BACKUP_FORMAT,
    }


def _key_digests(key: dict) -> dict:
    """The backup's key as the marker keeps it: a digest of each part, and the experiment's settings
    themselves, so that a mismatch can name the settings that changed."""
    return {
        "experiment_digest": digest(key["experiment"]),
        "inputs_digest": digest({"seed": key["seed"], "inputs": key["inputs"]}),
        "experiment": key["experiment"],
    }


# What a backup must match to be resumed; a marker without a key (an older backup) matches nothing.
KEYED = ("cached_up_to", "backup_format", "experiment_digest", "inputs_digest")


def _mismatch(found: dict, identity: dict) -> str | None:
    """Why a backup with marker `found` is not this job's, in words; None where it is."""
    differing = [key for key in KEYED if found.get(key) != identity.get(key)]
    if not differing:
        return None
    if "experiment_digest" in differing and isinstance(found.get("experiment"), dict):
        before, now = found["experiment"], identity["experiment"]
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        return f"it was made with other settings ({', '.join(changed)} differ)"
    if "experiment_digest" in differing:
        return "it carries no record of the settings it was made with"
    if "inputs_digest" in differing:
        return "it was made from other input files (the data or the weights were made again)"
    return (
        f"it holds another model or format ({found.get('cached_up_to')}, format {found.get('backup_format')})"
    )


def _claim_backup(backup_dir: Path, identity: dict, warn) -> None:
    """Keep a backup only if it is this job's: the same settings, inputs and model (whole, or the same
    tail), in the same format. Another one is set aside (renamed, with the reason written beside it)
    and the job starts afresh."""
    marker = backup_dir / TRAINED_MODEL
    if any(backup_dir.iterdir()):
        found = json.loads(marker.read_text()) if marker.exists() else {"cached_up_to": None}
        reason = _mismatch(found, identity)
        if reason is not None:
            aside = backup_dir.with_name(f"{backup_dir.name}.set-aside-{time.strftime('%Y%m%d-%H%M%S')}")
            while aside.exists():
                aside = aside.with_name(aside.name + "+")
            backup_dir.rename(aside)
            (aside / SET_ASIDE_REASON).write_text(f"Set aside on {time.ctime()}: {reason}.\n")
            warn(f"not resuming the backup in {backup_dir}: {reason}; set aside as {aside}, training afresh")
            backup_dir.mkdir(parents=True)
    if not marker.exists():
        write_atomically(marker, lambda path: Path(path).write_text(json.dumps(identity)))


def _stopped_early(stopping, rows) -> bool:
    return bool(stopping and rows and rows[-1]["epoch"] - stopping.best_epoch >= stopping.patience)


def _any_nonfinite(rows: list[dict]) -> bool:
    return any(not math.isfinite(row.get("loss", 0.0)) for row in rows)


def _best_epoch(rows: list[dict]) -> int | None:
    finite = [row for row in rows if math.isfinite(row.get("val_loss", math.inf))]
    return min(finite, key=lambda row: row["val_loss"])["epoch"] if finite else None


class Stopwatch:
    """Seconds per named phase, each from the end of the previous one."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._last
        self._last = now


def save_model_atomically(model: keras.Model, path: Path) -> None:
    """Write the .keras file under a temporary name first: a half-written model is never final.

    The file holds the architecture and the weights, not the optimizer state (for VGG16 that would
    add two thirds to its size) nor the training config; load it and compile it for what comes next.
    """
    optimizer, compiled = getattr(model, "optimizer", None), model.compiled
    model.optimizer, model.compiled = None, False
    try:
        write_atomically(path, model.save)
    finally:
        model.optimizer, model.compiled = optimizer, compiled


def finish(backup_dir: Path) -> None:
    """Drop the resume state once every output of the job is written."""
    shutil.rmtree(backup_dir, ignore_errors=True)
