"""What lets a training job killed mid-way resume where it stopped, and only its own work.

Keras's BackupAndRestore keeps the weights and the optimizer state (PeriodicBackup spaces it in time);
this module keeps what that callback does not: the per-epoch history (HistoryRecorder) and the
early-stopping state with the best weights (ResumableEarlyStopping), both rebuilt from the backup's
epoch on a restart (resume_point).

A backup is keyed by what made it: the experiment as the job's params give it, the files the job read
(input_stamps) and the model it trains (the whole model, or the tail behind a frozen cache). A backup of
anything else is set aside, renamed with the reason beside it rather than deleted (claim_backup), and
the job starts afresh and says so.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from transfer_study.digests import digest
from transfer_study.files import write_atomically
from transfer_study.training.caching import CachePlan
from transfer_study.training.history import HISTORY_COLUMNS, read_history, write_history

PARTIAL_HISTORY = "history.partial.csv"
# The model's weights alone (no optimizer state), as NumPy arrays in an .npz read without pickle.
BEST_WEIGHTS = "best_weights.npz"
BACKUP_FORMAT = 2  # 2: best weights in BEST_WEIGHTS; a backup of another format is not resumed
BACKUP_METADATA = "training_metadata.json"  # written by keras.callbacks.BackupAndRestore
# Which model the backup's weights belong to: the whole model, or the tail behind a frozen cache.
TRAINED_MODEL = "trained_model.json"
SET_ASIDE_REASON = "SET_ASIDE.txt"


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


def input_stamps(**paths) -> dict:
    """Each input file's size and modification time: a file made again (new data, other weights) has a
    new stamp, and a backup made from the old one is not resumed."""
    stamps = {}
    for name, path in paths.items():
        if path is not None:
            status = Path(path).stat()
            stamps[name] = [status.st_size, status.st_mtime_ns]
    return stamps


def trained_model_identity(plan: CachePlan, trained: keras.Model) -> dict:
    return {
        "model": trained.name,
        "cached_up_to": plan.split.cut_layer if plan.used else None,
        "backup_format": BACKUP_FORMAT,
    }


def key_digests(key: dict) -> dict:
    """The backup's key as the marker keeps it: a digest of each part, and the experiment's settings
    themselves, so that a mismatch can name the settings that changed."""
    return {
        "experiment_digest": digest(key["experiment"]),
        "inputs_digest": digest({"seed": key["seed"], "inputs": key["inputs"]}),
        "experiment": key["experiment"],
    }


# What a backup must match to be resumed; a marker without a key (an older backup) matches nothing.
KEYED = ("cached_up_to", "backup_format", "experiment_digest", "inputs_digest")


def mismatch(found: dict, identity: dict) -> str | None:
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


def claim_backup(backup_dir: Path, identity: dict, warn) -> None:
    """Keep a backup only if it is this job's: the same settings, inputs and model (whole, or the same
    tail), in the same format. Another one is set aside (renamed, with the reason written beside it)
    and the job starts afresh."""
    marker = backup_dir / TRAINED_MODEL
    if any(backup_dir.iterdir()):
        found = json.loads(marker.read_text()) if marker.exists() else {"cached_up_to": None}
        reason = mismatch(found, identity)
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


def stopped_early(stopping, rows) -> bool:
    return bool(stopping and rows and rows[-1]["epoch"] - stopping.best_epoch >= stopping.patience)


def finish(backup_dir: Path) -> None:
    """Drop the resume state once every output of the job is written."""
    shutil.rmtree(backup_dir, ignore_errors=True)
