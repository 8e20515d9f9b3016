"""cifar10_tar: cifar-10-python.tar.gz as published; validation is held out of its training batches."""

from __future__ import annotations

from pathlib import Path

from transfer_study.data.formats.base import DatasetFormat, ReadResult, synthetic_spec

CIFAR10_TRAIN_IMAGES_PER_CLASS = 5000  # five training batches of 10,000 images, 1,000 per class each
DEFAULT_VALIDATION_FRACTION = 0.2


def read(dataset: dict, sources: dict[str, Path], size: int, workers: int) -> ReadResult:
    from transfer_study.data.datasets import read_cifar10, stratified_split

    parts = read_cifar10(Path(sources["archive"]), size)
    x_all, y_all, names = parts["train"]
    train, validation = stratified_split(y_all, dataset["validation_fraction"], dataset["split_seed"])
    arrays = {
        "x_train": x_all[train],
        "y_train": y_all[train],
        "x_validation": x_all[validation],
        "y_validation": y_all[validation],
    }
    arrays["x_test"], arrays["y_test"], test_names = parts["test"]
    members = {
        "train": [names[i] for i in train],
        "validation": [names[i] for i in validation],
        "test": test_names,
    }
    source = Path(sources["archive"]).name
    return ReadResult(
        arrays, list(dataset["class_names"]), members=members, sources=dict.fromkeys(members, source)
    )


def train_images(config: dict, name: str) -> int | None:
    """Fixed by the format (or a synthetic archive's spec), less the validation share."""
    dataset = config["datasets"][name]
    synthetic = synthetic_spec(config, dataset["splits"]["archive"])
    per_class = 5 * synthetic.get("images_per_class", 20) if synthetic else CIFAR10_TRAIN_IMAGES_PER_CLASS
    fraction = dataset.get("validation_fraction", DEFAULT_VALIDATION_FRACTION)
    held_out = int(round(per_class * fraction))  # as stratified_split rounds
    return len(dataset["class_names"]) * (per_class - held_out)


def config_errors(config: dict, name: str) -> list[str]:
    if not config["datasets"][name].get("class_names"):
        return [f"datasets.{name}.class_names: format cifar10_tar needs the ten class names, in label order"]
    return []


def write_synthetic(path: Path, spec: dict) -> None:
    from transfer_study.data.synthetic import write_cifar10_tar

    write_cifar10_tar(path, spec["images_per_class"], spec["seed"])


FORMAT = DatasetFormat(
    name="cifar10_tar",
    split_keys=(("archive",),),
    read=read,
    train_images=train_images,
    options=("validation_fraction", "split_seed"),
    config_errors=config_errors,
    write_synthetic=write_synthetic,
)
