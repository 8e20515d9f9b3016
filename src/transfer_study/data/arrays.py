"""The preprocessed-dataset file: one compressed .npz of x_/y_<split> arrays, the class names, and where
each image came from (members_<split>: its file or archive member; source_<split>: the source's name).

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


def load_arrays(path: Path, prefixes: tuple[str, ...] | None = None) -> dict:
    """Every array of the file, or those whose names start with one of `prefixes` (an .npz member is
    decompressed only when read); the class names always, as a list."""
    with np.load(path, allow_pickle=False) as archive:
        keys = [key for key in archive.files if prefixes is None or key.startswith(prefixes)]
        arrays = {key: archive[key] for key in keys}
        arrays["class_names"] = [str(name) for name in archive["class_names"]]
    return arrays
