"""What a dataset format declares, in one place (one instance per format module)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from transfer_study.problems import Problem

if TYPE_CHECKING:  # NumPy is not imported when the config is checked, only when data is read
    import numpy as np


@dataclass
class ReadResult:
    """What a format reads from its sources: x_/y_<split> arrays for train, validation and test, the
    class names in label order, the members skipped (each a dict with its source, member and reason) and
    whatever else the format records in stats.json (under its own keys).

    `members` names each image of a split where it came from (a file of a folder, an archive member), in
    the order of its arrays, and `sources` the source (file or folder name) each split was read from:
    evaluation writes them beside each test image's prediction. Left empty, images are numbered."""

    arrays: dict[str, np.ndarray]
    class_names: list[str]
    skipped: list[dict] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetFormat:
    """A dataset format.

    name: the value of `datasets.*.format`.
    split_keys: the key sets a dataset's `splits` may have (any one of them), each naming the sources.
    read(dataset, sources, size, workers): the dataset's images, resized to size x size; `sources`
        maps each split key to a file (or, where `reads_directories`, a folder).
    train_images(config, name): training images known before any job runs, or None.
    options: dataset keys this format reads besides format, splits, class_names and image_size.
    reads_directories: whether a `directory:` source may feed it.
    class_names(config, name): class names known at planning (default: the config's `class_names`).
    config_errors(config, name): what the config check reports about this dataset, beyond its split keys,
        as Problems (transfer_study/problems.py) at the dataset's keys.
    write_synthetic(path, spec): a synthetic source of this format for the offline demo, from a
        `sources.*.synthetic` spec; None where the format has none.
    """

    name: str
    split_keys: tuple[tuple[str, ...], ...]
    read: Callable[[dict, dict[str, Path], int, int], ReadResult]
    train_images: Callable[[dict, str], int | None]
    options: tuple[str, ...] = ()
    reads_directories: bool = False
    class_names: Callable[[dict, str], list[str] | None] | None = None
    config_errors: Callable[[dict, str], list[Problem]] | None = None
    write_synthetic: Callable[[Path, dict], None] | None = None


def listed_class_names(config: dict, name: str) -> list[str] | None:
    names = config["datasets"][name].get("class_names")
    return list(names) if names else None


def synthetic_spec(config: dict, source: str) -> dict | None:
    return config["sources"].get(source, {}).get("synthetic")
