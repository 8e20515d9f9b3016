"""beans_zip: the beans data set as published, one zip per split laid out as <split>/<class>/<image>."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from transfer_study.data.formats.base import DatasetFormat, ReadResult, synthetic_spec
from transfer_study.problems import Problem, at

if TYPE_CHECKING:  # NumPy and Pillow are imported where used: the registry is read at planning
    import numpy as np

SPLITS = ("train", "validation", "test")


def _beans_member_class(name: str) -> str | None:
    parts = PurePosixPath(name).parts
    # <split>/<class>/<file>; anything shallower is not an image of a class folder.
    return parts[-2] if len(parts) >= 3 else None


def read_beans_split(
    archive: Path, split: str, class_names: list[str], size: int, workers: int = 1
) -> tuple[np.ndarray, np.ndarray, list[dict], list[str]]:
    """Images and labels of one beans split archive, the members skipped and why, and the members kept."""
    from transfer_study.data.archives import list_zip_files
    from transfer_study.data.datasets import (
        MAX_MEMBERWISE_ARCHIVE_BYTES,
        DatasetError,
        decode_members,
        require_every_class,
    )
    from transfer_study.data.metadata import metadata_reason

    # Named here, read one at a time as they are decoded.
    members = sorted(list_zip_files(archive, max_total_bytes=MAX_MEMBERWISE_ARCHIVE_BYTES))
    skipped, kept = [], []
    for name, data in members:
        parts = PurePosixPath(name).parts
        if (reason := metadata_reason(name)) is not None:
            skipped.append({"archive": archive.name, "member": name, "reason": reason})
            continue
        label = _beans_member_class(name)
        if label is not None and parts[-3] != split:
            raise DatasetError(
                f"{archive}: member {name!r} sits under {parts[-3]}/, but this archive is read as the "
                f"{split} split, whose images sit in {split}/<class>/. Check datasets.*.splits.{split} in "
                "the config: it may name another split's archive."
            )
        if label is None:
            skipped.append({"archive": archive.name, "member": name, "reason": "not in a class folder"})
            continue
        if label not in class_names:
            raise DatasetError(
                f"{archive}: member {name!r} is in class folder {label!r}, which the config does not "
                f"list (datasets.*.class_names: {', '.join(class_names)}). Add the class to the "
                "config or check that this is the right archive."
            )
        kept.append((name, class_names.index(label), data))
    x, y, names = decode_members(kept, size, workers, archive.name, skipped)
    require_every_class(y, class_names, f"{archive} ({split})")
    return x, y, skipped, names


def write_beans_zip(path: Path, split: str, images_per_class: int, image_size: int, seed: int) -> None:
    """A zip laid out as the published beans archives: <split>/<class>/<class>_<split>.<n>.jpg.

    The training archive also holds one member that is not an image, as the published one does,
    so the demo exercises the skip path.
    """
    import numpy as np

    from transfer_study.data.synthetic import BEANS_CLASSES, SPLITS_INDEX, beans_image, zip_entry

    rng = np.random.default_rng([seed, SPLITS_INDEX[split]])
    with zipfile.ZipFile(path, "w") as archive:
        for label in BEANS_CLASSES:
            for index in range(images_per_class):
                buffer = io.BytesIO()
                beans_image(label, rng, image_size).save(buffer, format="JPEG", quality=90)
                zip_entry(archive, f"{split}/{label}/{label}_{split}.{index}.jpg", buffer.getvalue())
        if split == "train":
            zip_entry(archive, f"{split}/healthy/notes.txt.jpg", b"not an image\n")


def read(dataset: dict, sources: dict[str, Path], size: int, workers: int) -> ReadResult:
    class_names = list(dataset["class_names"])
    arrays, skipped, members = {}, [], {}
    for split in SPLITS:
        x, y, split_skipped, members[split] = read_beans_split(
            Path(sources[split]), split, class_names, size, workers
        )
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
        skipped += split_skipped
    names = {split: Path(sources[split]).name for split in SPLITS}
    return ReadResult(arrays, class_names, skipped, members=members, sources=names)


def train_images(config: dict, name: str) -> int | None:
    """From a synthetic archive's spec, else from `expected_images.train` where the config states it."""
    dataset = config["datasets"][name]
    synthetic = synthetic_spec(config, dataset["splits"]["train"])
    if synthetic:
        return synthetic.get("images_per_class", 20) * len(dataset["class_names"])
    return (dataset.get("expected_images") or {}).get("train")


def config_errors(config: dict, name: str) -> list[Problem]:
    if not config["datasets"][name].get("class_names"):
        return [
            at(
                "datasets",
                name,
                "class_names",
                message="format beans_zip needs the list of class folder names",
            )
        ]
    return []


def write_synthetic(path: Path, spec: dict) -> None:
    if "split" not in spec:
        raise ValueError("a synthetic beans_zip source needs `split` (train, validation or test)")
    write_beans_zip(path, spec["split"], spec["images_per_class"], spec["image_size"], spec["seed"])


FORMAT = DatasetFormat(
    name="beans_zip",
    split_keys=(SPLITS,),
    read=read,
    train_images=train_images,
    options=("expected_images",),
    config_errors=config_errors,
    write_synthetic=write_synthetic,
)
