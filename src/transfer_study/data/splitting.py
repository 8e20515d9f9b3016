"""Held-out splits drawn by the workflow: stratified by class, seeded apart from the training seeds.

Shared by the formats whose sources do not say which image is validation or test (image_folder's pools
and train-only sources, csv tables without a split column), so they split alike and record it alike.
"""

from __future__ import annotations

SPLITS = ("train", "validation", "test")
DEFAULT_VALIDATION_FRACTION = 0.2
DEFAULT_TEST_FRACTION = 0.2
DEFAULT_SPLIT_SEED = 0


def fractions(dataset: dict) -> tuple[float, float]:
    """The dataset's (validation_fraction, test_fraction), with the defaults."""
    return (
        dataset.get("validation_fraction", DEFAULT_VALIDATION_FRACTION),
        dataset.get("test_fraction", DEFAULT_TEST_FRACTION),
    )


def held_out_counts(count: int, validation_fraction: float, test_fraction: float) -> tuple[int, int]:
    return int(round(count * validation_fraction)), int(round(count * test_fraction))


def stratified_partition(labels, class_names: list[str], validation_fraction: float, test_fraction: float,
                         seed: int) -> dict:  # fmt: skip
    """Indices per split: the fractions of every class held out for validation and test, drawn with
    `seed` (the same seed and images give the same split). A test_fraction of 0 holds out validation
    only, for sources that bring their own test images."""
    import numpy as np

    from transfer_study.data.datasets import DatasetError

    rng = np.random.default_rng(seed)
    parts = {split: [] for split in SPLITS}
    for label, name in enumerate(class_names):
        members = rng.permutation(np.flatnonzero(labels == label))
        validation, test = held_out_counts(len(members), validation_fraction, test_fraction)
        if min(validation, len(members) - validation - test) < 1 or (test_fraction and test < 1):
            held_out = f"{validation_fraction} for validation" + (
                f" and {test_fraction} for test" if test_fraction else ""
            )
            raise DatasetError(
                f"class {name!r} has {len(members)} usable image(s): too few to hold out "
                f"{held_out} and keep some for training; add images or change "
                "datasets.*.validation_fraction" + (" / test_fraction" if test_fraction else "")
            )
        parts["validation"].append(members[:validation])
        parts["test"].append(members[validation : validation + test])
        parts["train"].append(members[validation + test :])
    return {split: np.sort(np.concatenate(chunks)) for split, chunks in parts.items()}


def split_pool(x, y, names: list[str], class_names: list[str], dataset: dict) -> tuple[dict, dict]:
    """A pool's (images, labels, names) per split, and the split as stats.json records it."""
    validation_fraction, test_fraction = fractions(dataset)
    seed = dataset.get("split_seed", DEFAULT_SPLIT_SEED)
    indices = stratified_partition(y, class_names, validation_fraction, test_fraction, seed)
    decoded = _drawn(x, y, names, indices)
    record = {
        "validation_fraction": validation_fraction,
        "test_fraction": test_fraction,
        "split_seed": seed,
        "members": {split: split_names for split, (_, _, split_names) in decoded.items()},
    }
    return decoded, record


def carve_validation(decoded: dict, class_names: list[str], dataset: dict) -> tuple[dict, dict]:
    """Sources without validation images: validation_fraction of every training class held out."""
    x, y, names = decoded["train"]
    validation_fraction, _ = fractions(dataset)
    seed = dataset.get("split_seed", DEFAULT_SPLIT_SEED)
    indices = stratified_partition(y, class_names, validation_fraction, 0, seed)
    carved = {**decoded, **_drawn(x, y, names, {split: indices[split] for split in ("train", "validation")})}
    record = {
        "from": "train",
        "validation_fraction": validation_fraction,
        "split_seed": seed,
        "members": {split: carved[split][2] for split in ("train", "validation")},
    }
    return carved, record


def _drawn(x, y, names: list[str], indices: dict) -> dict:
    """(images, labels, names) of each split's indices (each increasing), the images `x` spent: the
    held-out splits are copied out first, then the training rows are moved down in place."""
    from transfer_study.data.datasets import keep_rows, take_rows

    drawn = {}
    for split in sorted(indices, key=lambda split: split == "train"):  # train last
        index = indices[split]
        images = keep_rows(x, index) if split == "train" else take_rows(x, index)
        drawn[split] = (images, y[index], [names[i] for i in index])
    return {split: drawn[split] for split in indices}


def planned_train_count(per_class: dict[str, int], dataset: dict, kind: str) -> int:
    """Training images left once the held-out shares are drawn: `kind` is "pool" (validation and test
    drawn), "carve" (validation drawn from train) or "given" (nothing drawn)."""
    validation_fraction, test_fraction = fractions(dataset)
    shares = {
        "pool": (validation_fraction, test_fraction),
        "carve": (validation_fraction, 0),
        "given": (0, 0),
    }
    return sum(n - sum(held_out_counts(n, *shares[kind])) for n in per_class.values())
