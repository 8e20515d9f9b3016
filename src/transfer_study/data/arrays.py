"""The preprocessed-dataset file: one compressed .npz of x_/y_<split> arrays and the class names.

Kept apart from data.py so that training and evaluation depend on this file format only, not on the
archive readers (an edit there must not retrain anything).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transfer_study.files import write_atomically


def save_arrays(path: Path, arrays: dict[str, np.ndarray], class_names: list[str]) -> None:
    """Write under a temporary name first, so a killed job never leaves a truncated file."""

    def write(partial: Path) -> None:
        with open(partial, "wb") as handle:
            np.savez_compressed(handle, class_names=np.asarray(class_names), **arrays)

    write_atomically(path, write)


def load_arrays(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["class_names"] = [str(name) for name in arrays["class_names"]]
    return arrays
