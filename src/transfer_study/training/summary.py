"""What a training job reports about itself (train.json): epochs, time, sizes, and where the time went."""

from __future__ import annotations

import math
import time

import keras
import numpy as np


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


def training_summary(
    experiment, seed, rows, *, model, trained, recorder, stopping, train_images, class_weight, plan,
    seconds_to_cache, wall_seconds, resumed_after_epoch, phases, backup, backup_every,
) -> dict:  # fmt: skip
    """train.json: what the job ran (`rows` of history), kept and measured, from its parts."""
    kept_epoch = stopping.best_epoch if stopping and stopping.restore_best else len(rows)
    train_seconds = sum(row["seconds"] for row in rows)
    return {
        "seed": seed,
        "epochs_run": len(rows),
        "epochs_max": experiment["epochs"],
        "kept_epoch": kept_epoch,
        "best_epoch": _best_epoch(rows),
        "stopped_early": bool(rows) and len(rows) < experiment["epochs"] and not recorder.diverged,
        "diverged": recorder.diverged or _any_nonfinite(rows),
        "resumed_after_epoch": resumed_after_epoch,
        "wall_seconds_this_run": wall_seconds,
        "train_seconds": train_seconds,
        "seconds_per_epoch": (train_seconds / len(rows)) if rows else None,
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "total_params": int(sum(np.prod(w.shape) for w in model.weights)),
        "train_images": int(train_images),
        "class_weight": class_weight,
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
