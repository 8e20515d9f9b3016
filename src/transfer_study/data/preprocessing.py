"""Preprocessing one dataset: its format (from the registry) reads the sources, and every format's
result gets the same checks (labels within the class names, `expected_images`) and the same stats.

Apart from datasets.py (the image decoding and the published formats' readers) because this module
reaches every format through the registry, and the demo's pretraining, which decodes images with
datasets.py, must not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transfer_study.data.archives import close_zips
from transfer_study.data.datasets import (
    SPLITS,
    DatasetError,
    duplicates_across_splits,
    images_on_disk,
    split_counts,
)
from transfer_study.data.directories import content_digest
from transfer_study.data.download import file_digest
from transfer_study.data.formats import registry


def preprocess_dataset(
    dataset: dict,
    archives: dict[str, Path],
    size: int,
    workers: int = 1,
    scratch: Path | None = None,
    name: str = "*",
) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays {x_<split>, y_<split>} for train/validation/test and the stats of the run, read by the
    dataset's format from the registry (`archives` maps its split keys to files or folders).

    With `scratch` (a folder), the decoded images are kept in files there, mapped in place of memory
    (datasets.images_on_disk), so that memory does not grow with the data set; the arrays returned are
    those mappings, which save_arrays writes out a chunk at a time. `name` is the dataset's key in the
    config, which the errors name."""
    read = registry.get(dataset["format"]).read
    try:
        if scratch is None:
            result = read(dataset, archives, size, workers)
        else:
            with images_on_disk(scratch):
                result = read(dataset, archives, size, workers)
    except ValueError as error:
        # A format names the config's keys as datasets.*, not knowing the dataset's name; this does.
        message = str(error)
        if name == "*" or "datasets.*" not in message:
            raise
        message = message.replace("datasets.*", f"datasets.{name}")
        try:
            named = type(error)(message)
        except TypeError:  # an error class that takes more than its message
            named = DatasetError(message)
        raise named.with_traceback(error.__traceback__) from None
    finally:
        close_zips()  # a zip listed but never decoded (an error between the two) is not left open
    arrays, class_names = result.arrays, result.class_names
    for split in SPLITS:
        labels = arrays[f"y_{split}"]
        if labels.size and labels.max() >= len(class_names):
            raise DatasetError(
                f"{split} labels reach {labels.max()}, but the config lists only "
                f"{len(class_names)} class names"
            )
    for split, expected in (dataset.get("expected_images") or {}).items():
        found = len(arrays[f"y_{split}"])
        archive = Path(archives.get(split) or next(iter(archives.values())))
        if found != expected:
            raise DatasetError(
                f"{split} split: {found} images read from {archive}, datasets.{name}.expected_images.{split} "
                f"in the config says {expected}; check the source (or the skipped members in the log) "
                "before changing the number"
            )
    for split in SPLITS:
        # Where each image came from, beside its pixels: evaluation names each test image's file.
        count = len(arrays[f"y_{split}"])
        members = result.members.get(split) or [f"#{index}" for index in range(count)]
        if len(members) != count:
            raise DatasetError(
                f"format {dataset['format']}: {len(members)} member names for {count} {split} images"
            )
        arrays[f"members_{split}"] = np.asarray(members, dtype=str)
        arrays[f"source_{split}"] = np.asarray(result.sources.get(split, ""), dtype=str)
    stats = {
        "duplicates_across_splits": duplicates_across_splits(arrays),
        "format": dataset["format"],
        "class_names": class_names,
        "image_shape": [size, size, 3],
        "splits": {split: split_counts(arrays[f"y_{split}"], class_names) for split in SPLITS},
        "skipped": result.skipped,
        "sources": {split: source_record(Path(path)) for split, path in archives.items()},
        **result.stats,
    }
    return arrays, stats


def source_record(path: Path) -> dict:
    """What stats.json says of one source: its name and a digest of its content."""
    if path.is_dir():
        return {"directory": path.name, "sha256": content_digest(path)}
    return {"file": path.name, "sha256": file_digest(path, "sha256")}
