"""One training job: an experiment dict, a seed, the preprocessed arrays -> model, history, summary.

Everything here is plain Keras 3 (`keras`, `keras.ops`), so it runs unchanged on the TensorFlow, JAX and
PyTorch backends. A job killed mid-way resumes from its last backed-up epoch (backups are spaced in
time, see resume.py). Every
epoch's randomness (shuffling, dropout, augmentation) is derived from (seed, epoch) alone, so a resumed
run repeats exactly what an uninterrupted one would do.

When the layers in front of the first trainable one are frozen and deterministic, their output is
computed once per split and only the rest of the model trains on it (caching.py); the model returned
and saved is still the whole model. `precision` picks the Keras dtype policy the model is built under,
`jit_compile` is passed to `compile`.

The resume machinery and the backup's key are in resume.py, the job's summary in summary.py, the
optimizer and dtype policy in compiling.py.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from transfer_study.files import write_atomically
from transfer_study.models.build import build_model
from transfer_study.training.batches import OrderedBatches
from transfer_study.training.caching import plan_frozen_cache
from transfer_study.training.compiling import compile_model, dtype_policy, one_hot
from transfer_study.training.resume import (
    BEST_WEIGHTS,
    PARTIAL_HISTORY,
    HistoryRecorder,
    PeriodicBackup,
    ResumableEarlyStopping,
    claim_backup,
    key_digests,
    resume_point,
    stopped_early,
    trained_model_identity,
)
from transfer_study.training.summary import Stopwatch, training_summary
from transfer_study.training.weighting import class_weights, sample_weights


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


def _train(
    experiment, seed, arrays, weights_path, backup_dir: Path, log, extra_callbacks, backup_every, key, warn
):
    backup_dir.mkdir(parents=True, exist_ok=True)
    phases = Stopwatch()
    weighting = _class_weighting(experiment, arrays, log)
    model = build_model(experiment, experiment["num_classes"], weights_path)
    phases.lap("build")
    plan = plan_frozen_cache(model, _images(arrays), experiment.get("cache_frozen", True))
    log(f"frozen cache {'used' if plan.used else 'not used'}: {plan.reason}")
    # The model that fit() trains: the tail behind the cache (sharing the model's layers), or the model.
    trained = plan.split.tail if plan.used else model
    claim_backup(backup_dir, {**trained_model_identity(plan, trained), **key_digests(key)}, warn)
    start_epoch, rows = resume_point(backup_dir)
    if start_epoch:
        log(f"resuming after epoch {start_epoch} from {backup_dir}")
    _compile(model, trained, experiment)
    phases.lap("compile")

    recorder = HistoryRecorder(rows, backup_dir / PARTIAL_HISTORY)
    stopping = _early_stopping(experiment, rows, backup_dir)
    started = time.perf_counter()
    seconds_to_cache, backup = 0.0, None
    if start_epoch >= experiment["epochs"] or stopped_early(stopping, rows):
        # Killed after its last epoch but before its outputs were written.
        trained.load_weights(backup_dir / "latest.weights.h5")
    else:
        # The backup after ours, so that each epoch's history is on disk before the backup marks it done.
        backup = PeriodicBackup(str(backup_dir), backup_every, stopping)
        callbacks = [recorder, *([stopping] if stopping else []), backup, *extra_callbacks]
        seconds_to_cache = _fit(
            model, trained, plan, arrays, experiment, seed, weighting, callbacks, log, phases
        )
    phases.lap("fit")
    if stopping is not None:
        stopping.set_model(trained)
        stopping.restore()
    summary = training_summary(
        experiment, seed, rows, model=model, trained=trained, recorder=recorder, stopping=stopping,
        train_images=len(arrays["x_train"]), class_weight=weighting[1], plan=plan,
        seconds_to_cache=seconds_to_cache, wall_seconds=time.perf_counter() - started,
        resumed_after_epoch=start_epoch, phases=phases, backup=backup, backup_every=backup_every,
    )  # fmt: skip
    return model, rows, summary


def _images(arrays: dict) -> int:
    return len(arrays["x_train"]) + len(arrays["x_validation"])


def _class_weighting(experiment: dict, arrays: dict, log) -> tuple[list[str], dict | None]:
    """The class names in label order and the weight of each class in the loss (None: equal)."""
    class_names = list(arrays.get("class_names") or map(str, range(experiment["num_classes"])))
    weights_per_class = class_weights(experiment.get("class_weight"), arrays["y_train"], class_names)
    if weights_per_class is not None:
        log("class weights: " + ", ".join(f"{name} {w:.3g}" for name, w in weights_per_class.items()))
    return class_names, weights_per_class


def _compile(model: keras.Model, trained: keras.Model, experiment: dict) -> None:
    compile_model(trained, experiment)
    if trained is not model:  # the returned model carries the optimizer that trained it
        compile_model(model, experiment, optimizer=trained.optimizer)
    # Optimizer slots in the order of the whole model's variables, whichever part trains, so the
    # optimizer state (and the backup that holds it) reads back the same either way.
    trained.optimizer.build(model.trainable_variables)


def _early_stopping(experiment: dict, rows: list[dict], backup_dir: Path) -> ResumableEarlyStopping | None:
    if not experiment.get("early_stopping"):
        return None
    return ResumableEarlyStopping(
        experiment["early_stopping"]["patience"],
        experiment["early_stopping"].get("restore_best_weights", True),
        rows,
        backup_dir / BEST_WEIGHTS,
    )


def _fit(model, trained, plan, arrays, experiment, seed, weighting, callbacks, log, phases) -> float:
    """Run fit() on `trained` from the resume point; returns the seconds spent caching frozen features.

    Frozen features go to a scratch folder (the job's temporary space), for this process only: made
    again on a resume, never shared with another job, removed when fit() returns or fails."""
    num_classes, batch_size = experiment["num_classes"], experiment["batch_size"]
    class_names, weights_per_class = weighting
    started = time.perf_counter()
    seconds_to_cache = 0.0
    with tempfile.TemporaryDirectory(prefix="transfer-study-features.") as scratch:
        x_train, x_validation = arrays["x_train"], arrays["x_validation"]
        if plan.used:
            x_train = plan.split.features(x_train, batch_size, Path(scratch) / "train.npy")
            x_validation = plan.split.features(x_validation, batch_size, Path(scratch) / "validation.npy")
            seconds_to_cache = time.perf_counter() - started
            shape, seconds = x_train.shape[1:], seconds_to_cache
            log(f"cached {shape} features of {_images(arrays)} images in {seconds:.1f} s")
            phases.lap("cache")
        batches = ShuffledBatches(
            x_train, one_hot(arrays["y_train"], num_classes), batch_size, seed,
            sample_weight=sample_weights(weights_per_class, arrays["y_train"], class_names),
        )  # fmt: skip
        validation = OrderedBatches(x_validation, one_hot(arrays["y_validation"], num_classes), batch_size)
        trained.fit(
            batches,
            validation_data=validation,
            batch_size=batch_size,
            epochs=experiment["epochs"],
            callbacks=[EpochRandomness(batches, seed, numbering=model), *callbacks],
            shuffle=False,
            verbose=2,
        )
    return seconds_to_cache


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
