"""beans_zip: the beans data set as published, one zip per split laid out as <split>/<class>/<image>."""

from __future__ import annotations

from pathlib import Path

from transfer_study.data.formats.base import DatasetFormat, ReadResult, synthetic_spec

SPLITS = ("train", "validation", "test")


def read(dataset: dict, sources: dict[str, Path], size: int, workers: int) -> ReadResult:
    from transfer_study.data.datasets import read_beans_split

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


def config_errors(config: dict, name: str) -> list[str]:
    if not config["datasets"][name].get("class_names"):
        return [f"datasets.{name}.class_names: format beans_zip needs the list of class folder names"]
    return []


def write_synthetic(path: Path, spec: dict) -> None:
    from transfer_study.data.synthetic import write_beans_zip

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
