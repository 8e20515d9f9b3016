"""The per-epoch history file (history.csv): written by training, read by evaluation and the figures.

Kept free of Keras so that the figures and the report do not need a deep-learning framework.
"""

from __future__ import annotations

import csv
from pathlib import Path

from transfer_study.files import write_atomically

HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]


def write_history(path: Path, rows: list[dict]) -> None:

    def write(partial: Path) -> None:
        with open(partial, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({key: row.get(key, "") for key in HISTORY_COLUMNS})

    write_atomically(path, write)


def read_history(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return [
            {key: int(value) if key == "epoch" else float(value) for key, value in row.items()}
            for row in csv.DictReader(handle)
        ]
