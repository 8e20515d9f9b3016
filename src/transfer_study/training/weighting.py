"""Class weights: how much each class's training images count in the loss (`class_weight`)."""

from __future__ import annotations

import numpy as np


def class_weights(spec, labels: np.ndarray, class_names: list[str]) -> dict[str, float] | None:
    """{class: weight} for an experiment's `class_weight` (None, "auto" or {class: weight}); None where
    every image counts alike. "auto" is scikit-learn's "balanced": n / (classes x count of the class),
    which averages 1 over the training images."""
    if spec is None:
        return None
    if spec == "auto":
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names))
        if (counts == 0).any():
            empty = [name for name, count in zip(class_names, counts, strict=True) if count == 0]
            raise ValueError(f"class_weight auto: no training image of {', '.join(empty)}")
        weights = len(labels) / (len(class_names) * counts)
        return {name: float(weight) for name, weight in zip(class_names, weights, strict=True)}
    unknown = sorted(set(spec) - set(class_names))
    if unknown:
        raise ValueError(
            f"class_weight names {', '.join(unknown)}, not among the classes ({', '.join(class_names)})"
        )
    return {name: float(spec.get(name, 1.0)) for name in class_names}


def sample_weights(weights: dict[str, float] | None, labels: np.ndarray, class_names: list[str]):
    """Each training image's weight, float32, or None where there are no class weights."""
    if weights is None:
        return None
    per_label = np.asarray([weights[name] for name in class_names], dtype=np.float32)
    return per_label[np.asarray(labels, dtype=np.int64)]
