"""Metrics of a trained model: the columns of the beans study's Table 2 and a confusion matrix."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def per_class_scores(matrix: np.ndarray, class_names: list[str]) -> dict[str, dict]:
    """Precision and recall per class; None where a class was never predicted or never present."""
    scores = {}
    for index, name in enumerate(class_names):
        true_positive = matrix[index, index]
        predicted, actual = matrix[:, index].sum(), matrix[index, :].sum()
        scores[name] = {
            "precision": float(true_positive / predicted) if predicted else None,
            "recall": float(true_positive / actual) if actual else None,
            "support": int(actual),
        }
    return scores


def kept_epoch_metrics(history: list[dict], kept_epoch: int) -> dict:
    """Train and validation metrics of the epoch whose weights the model kept."""
    row = next((row for row in history if row["epoch"] == kept_epoch), None)
    if row is None:
        return {"train": None, "validation": None}
    return {
        "train": {"loss": row.get("loss"), "accuracy": row.get("accuracy")},
        "validation": {"loss": row.get("val_loss"), "accuracy": row.get("val_accuracy")},
    }


def evaluate_predictions(
    probabilities: np.ndarray, labels: np.ndarray, class_names: list[str], loss: float
) -> dict:
    """Test metrics from the model's outputs on the test set and the loss Keras computed on it."""
    probabilities = np.asarray(probabilities)
    finite = bool(np.isfinite(probabilities).all())
    predictions = probabilities.argmax(axis=1) if finite else np.zeros(len(labels), dtype=int)
    matrix = confusion_matrix(labels, predictions, len(class_names))
    return {
        "loss": float(loss) if finite else math.nan,
        "accuracy": float((predictions == np.asarray(labels)).mean()) if len(labels) else None,
        "images": int(len(labels)),
        "confusion_matrix": matrix.tolist(),
        "per_class": per_class_scores(matrix, class_names),
        "finite_outputs": finite,
    }


class UnreadableModel(OSError):
    """A model.keras that exists but cannot be loaded (truncated, or not a Keras file)."""


def load_trained_model(model_path):
    """The model a training job saved, uncompiled; a file that cannot be read says so and what to do."""
    import keras

    from transfer_study.models import build as models  # noqa: F401 - registers the custom layers before loading

    # Keras answers "File not found" for a .keras file that is there but is no complete zip archive.
    if Path(model_path).exists() and not zipfile.is_zipfile(model_path):
        raise UnreadableModel(
            f"{model_path} exists but is not a complete .keras file ({Path(model_path).stat().st_size} "
            "bytes; truncated, perhaps by a full disk or a copy cut short): delete it and run the workflow "
            "again, which retrains that run"
        )
    return keras.saving.load_model(model_path, safe_mode=True, compile=False)


def evaluate_model(model_path, arrays: dict, history_path, summary: dict, batch_size: int) -> dict:
    """Everything metrics.json holds for one trained model."""
    import keras

    from transfer_study.training.history import read_history

    model = load_trained_model(model_path)
    class_names = arrays["class_names"]
    x_test, y_test = arrays["x_test"], arrays["y_test"]
    # One pass over the test set; the loss is the training loss (categorical cross-entropy, with Keras's
    # own normalising and clipping) averaged over the images, as model.evaluate would report it.
    probabilities = model.predict(x_test, batch_size=batch_size, verbose=0)
    targets = keras.utils.to_categorical(y_test, len(class_names))
    losses = keras.losses.categorical_crossentropy(targets, probabilities.astype("float32"))
    loss = float(np.mean(keras.ops.convert_to_numpy(losses))) if len(y_test) else math.nan
    history = read_history(history_path)
    keys = ["experiment", "seed", "epochs_run", "kept_epoch", "stopped_early", "diverged"]
    keys += ["train_seconds", "seconds_per_epoch", "trainable_params", "total_params"]
    keys += ["backend", "device", "versions", "frozen_cache"]
    return {
        **{key: summary.get(key) for key in keys},
        **kept_epoch_metrics(history, summary["kept_epoch"]),
        "test": evaluate_predictions(probabilities, y_test, class_names, loss),
        "class_names": class_names,
    }


def _trainable_text(trainable) -> str:
    return "+".join(trainable) if isinstance(trainable, list) else str(trainable)


def summary_table(experiments: dict, metrics_paths: list):
    """One row per experiment and seed: the experiment's settings, then its metrics."""
    import pandas as pd

    rows = []
    for path in metrics_paths:
        with open(path) as handle:
            metrics = json.load(handle)
        experiment = experiments[metrics["experiment"]]
        row = {
            "study": experiment["study"],
            "experiment": metrics["experiment"],
            "label": experiment.get("label"),
            "seed": metrics["seed"],
            "model": experiment["model"],
            "weights": experiment.get("weights") or "none",
            "trainable": _trainable_text(experiment["trainable"]),
            "activation": experiment["head"]["activation"],
            "optimizer": experiment["optimizer"]["name"],
            "learning_rate": experiment["optimizer"]["learning_rate"],
            "epochs": experiment["epochs"],
            "batch_size": experiment["batch_size"],
            "image_size": experiment["image_size"],
            "epochs_run": metrics["epochs_run"],
            "kept_epoch": metrics["kept_epoch"],
            "diverged": metrics["diverged"],
        }
        for split in ("train", "validation", "test"):
            values = metrics.get(split) or {}
            row[f"{split}_accuracy"] = values.get("accuracy")
            row[f"{split}_loss"] = values.get("loss")
        row["train_seconds"] = metrics["train_seconds"]
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["study", "experiment", "seed"], kind="stable")
