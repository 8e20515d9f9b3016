"""One training job: an experiment dict, a seed, the preprocessed arrays -> model, history, summary.

Everything here is plain Keras 3 (`keras`, `keras.ops`), so it runs unchanged on the TensorFlow, JAX and
PyTorch backends. A job killed mid-way resumes from its last finished epoch: Keras's BackupAndRestore
keeps the weights and optimizer state, and this module keeps what that callback does not (the per-epoch
history and the early-stopping state). Every epoch's randomness (shuffling, dropout, augmentation) is
derived from (seed, epoch) alone, so a resumed run repeats exactly what an uninterrupted one would do.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from transfer_study.files import write_atomically
from transfer_study.history import HISTORY_COLUMNS, read_history, write_history
from transfer_study.models import build_model

PARTIAL_HISTORY = "history.partial.csv"
BEST_WEIGHTS = "best.weights.h5"
BACKUP_METADATA = "training_metadata.json"  # written by keras.callbacks.BackupAndRestore


class ShuffledBatches(keras.utils.PyDataset):
    """Training batches in an order that depends only on (seed, epoch).

    Keras shuffles NumPy inputs with the backend's own stateful generator, whose state a resumed
    process cannot recover; this dataset makes the order a pure function of the epoch instead.
    """

    def __init__(self, x, y, batch_size: int, seed: int):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.order = np.arange(len(x))
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]


class EpochRandomness(keras.callbacks.Callback):
    """Before each epoch, reseed the data order and every seed generator from (seed, epoch)."""

    # Each generator advances by one per call; epochs are spaced far apart so they never overlap.
    EPOCH_STRIDE = 1 << 20

    def __init__(self, dataset: ShuffledBatches, seed: int):
        super().__init__()
        self.dataset, self.seed = dataset, seed

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.set_epoch(epoch)
        states = [v for v in self.model.variables if v.path.endswith("seed_generator_state")]
        for index, state in enumerate(states):
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
    """Early stopping on val_loss whose state can be rebuilt from the history after a restart."""

    def __init__(self, patience: int, restore_best: bool, rows: list[dict], best_path: Path):
        super().__init__()
        self.patience, self.restore_best, self.best_path = patience, restore_best, best_path
        self.best_epoch, self.best = 0, math.inf
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
            save_weights_atomically(self.model, self.best_path)
        if epoch + 1 - self.best_epoch >= self.patience:
            self.model.stop_training = True

    def restore(self) -> None:
        if self.restore_best and self.best_path.exists():
            self.model.load_weights(self.best_path)


def save_weights_atomically(model: keras.Model, path: Path) -> None:
    write_atomically(path, model.save_weights)


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


def compile_model(model: keras.Model, experiment: dict) -> None:
    model.compile(
        optimizer=make_optimizer(experiment.get("optimizer", {})),
        loss=keras.losses.CategoricalCrossentropy(),
        metrics=["accuracy"],
    )


def train(
    experiment: dict,
    seed: int,
    arrays: dict,
    weights_path: str | None,
    backup_dir: Path,
    log=print,
) -> tuple[keras.Model, list[dict], dict]:
    """Train one experiment with one seed; returns (model, history rows, summary)."""
    num_classes = experiment["num_classes"]
    backup_dir = Path(backup_dir)
    backup_dir.mkdir(parents=True, exist_ok=True)
    start_epoch, rows = resume_point(backup_dir)
    if start_epoch:
        log(f"resuming after epoch {start_epoch} from {backup_dir}")

    model = build_model(experiment, num_classes, weights_path)
    compile_model(model, experiment)
    batches = ShuffledBatches(
        arrays["x_train"], one_hot(arrays["y_train"], num_classes), experiment["batch_size"], seed
    )
    validation = (arrays["x_validation"], one_hot(arrays["y_validation"], num_classes))
    recorder = HistoryRecorder(rows, backup_dir / PARTIAL_HISTORY)
    callbacks = [EpochRandomness(batches, seed), recorder]
    stopping = None
    if experiment.get("early_stopping"):
        stopping = ResumableEarlyStopping(
            experiment["early_stopping"]["patience"],
            experiment["early_stopping"].get("restore_best_weights", True),
            rows,
            backup_dir / BEST_WEIGHTS,
        )
        callbacks.append(stopping)
    # Last, so that each epoch's history is on disk before the backup that marks the epoch done.
    callbacks.append(keras.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=False))

    started = time.perf_counter()
    already_done = start_epoch >= experiment["epochs"] or _stopped_early(stopping, rows)
    if not already_done:
        model.fit(
            batches,
            validation_data=validation,
            batch_size=experiment["batch_size"],
            epochs=experiment["epochs"],
            callbacks=callbacks,
            shuffle=False,
            verbose=2,
        )
    else:  # killed after its last epoch but before its outputs were written
        model.optimizer.build(model.trainable_variables)
        model.load_weights(backup_dir / "latest.weights.h5")
    if stopping is not None:
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
    }
    return model, rows, summary


def _stopped_early(stopping, rows) -> bool:
    return bool(stopping and rows and rows[-1]["epoch"] - stopping.best_epoch >= stopping.patience)


def _any_nonfinite(rows: list[dict]) -> bool:
    return any(not math.isfinite(row.get("loss", 0.0)) for row in rows)


def _best_epoch(rows: list[dict]) -> int | None:
    finite = [row for row in rows if math.isfinite(row.get("val_loss", math.inf))]
    return min(finite, key=lambda row: row["val_loss"])["epoch"] if finite else None


def save_model_atomically(model: keras.Model, path: Path) -> None:
    """Write the .keras file under a temporary name first: a half-written model is never final."""
    write_atomically(path, model.save)


def finish(backup_dir: Path) -> None:
    """Drop the resume state once every output of the job is written."""
    shutil.rmtree(backup_dir, ignore_errors=True)
