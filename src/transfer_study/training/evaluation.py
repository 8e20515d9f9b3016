"""Metrics of a trained model: the columns of the beans study's Table 2, a confusion matrix, and the
scores that still mean something when the classes are imbalanced (balanced accuracy, macro F1, each
class's precision, recall and F1), on the validation and the test split."""

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
    """Precision, recall and F1 per class; precision is None where a class was never predicted, all
    three where it is never present. A present class never predicted has F1 0, as in scikit-learn."""
    scores = {}
    for index, name in enumerate(class_names):
        true_positive = matrix[index, index]
        predicted, actual = matrix[:, index].sum(), matrix[index, :].sum()
        precision = float(true_positive / predicted) if predicted else None
        recall = float(true_positive / actual) if actual else None
        f1 = None
        if actual:
            f1 = 2 * true_positive / (predicted + actual)  # 2PR / (P + R), without dividing by zero
        scores[name] = {
            "precision": precision,
            "recall": recall,
            "f1": float(f1) if f1 is not None else None,
            "support": int(actual),
        }
    return scores


def balanced_scores(per_class: dict[str, dict]) -> dict:
    """Balanced accuracy (the mean of the classes' recalls) and macro F1 (the mean of their F1s), over
    the classes present; None where none is."""
    recalls = [scores["recall"] for scores in per_class.values() if scores["recall"] is not None]
    f1s = [scores["f1"] for scores in per_class.values() if scores["f1"] is not None]
    return {
        "balanced_accuracy": float(np.mean(recalls)) if recalls else None,
        "macro_f1": float(np.mean(f1s)) if f1s else None,
    }


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
    per_class = per_class_scores(matrix, class_names)
    return {
        "loss": float(loss) if finite else math.nan,
        "accuracy": float((predictions == np.asarray(labels)).mean()) if len(labels) else None,
        **(balanced_scores(per_class) if finite else {"balanced_accuracy": None, "macro_f1": None}),
        "images": int(len(labels)),
        "confusion_matrix": matrix.tolist(),
        "per_class": per_class,
        "finite_outputs": finite,
    }


PREDICTION_COLUMNS = ["source", "member", "true_class", "predicted_class", "probability", "correct"]


def write_predictions(path, probabilities, labels, class_names: list[str], members, source: str) -> None:
    """predictions.csv: one row per test image in the test split's order, naming its source and member,
    its true and predicted class, the predicted class's probability, and every class's (p_<class>).
    A model whose outputs are not finite predicts nothing: those cells are left empty."""
    import csv

    from transfer_study.files import write_atomically

    probabilities = np.asarray(probabilities, dtype=np.float64)
    finite = bool(np.isfinite(probabilities).all())

    def write(partial) -> None:
        with open(partial, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(PREDICTION_COLUMNS + [f"p_{name}" for name in class_names])
            for member, label, row in zip(members, labels, probabilities, strict=True):
                true_class = class_names[int(label)]
                if not finite:
                    writer.writerow([source, member, true_class, "", "", ""] + [""] * len(class_names))
                    continue
                predicted = int(row.argmax())
                writer.writerow(
                    [source, member, true_class, class_names[predicted], f"{row[predicted]:.6g}",
                     str(predicted == int(label)).lower()] + [f"{value:.6g}" for value in row]
                )  # fmt: skip

    write_atomically(Path(path), write)


def read_predictions(path) -> list[dict]:
    """predictions.csv's rows, probabilities as floats (None where empty), `correct` as a bool."""
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key, value in row.items():
            if key == "probability" or key.startswith("p_"):
                row[key] = float(value) if value else None
        row["correct"] = {"true": True, "false": False}.get(row["correct"])
    return rows


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


def evaluate_model(
    model_path, arrays: dict, history_path, summary: dict, batch_size: int, predictions_path=None
) -> dict:
    """Everything metrics.json holds for one trained model; with `predictions_path`, each test image's
    prediction written there too (write_predictions)."""
    import keras

    from transfer_study.training.batches import predict_in_batches
    from transfer_study.training.history import read_history

    model = load_trained_model(model_path)
    class_names = arrays["class_names"]
    x_test, y_test = arrays["x_test"], arrays["y_test"]
    # One pass over the test set; the loss is the training loss (categorical cross-entropy, with Keras's
    # own normalising and clipping) averaged over the images, as model.evaluate would report it.
    probabilities = predict_in_batches(model, x_test, batch_size)
    if predictions_path is not None:
        members = arrays.get("members_test")
        members = [str(m) for m in members] if members is not None else [f"#{i}" for i in range(len(y_test))]
        source = str(arrays.get("source_test", ""))
        write_predictions(predictions_path, probabilities, y_test, class_names, members, source)
    targets = keras.utils.to_categorical(y_test, len(class_names))
    losses = keras.losses.categorical_crossentropy(targets, probabilities.astype("float32"))
    loss = float(np.mean(keras.ops.convert_to_numpy(losses))) if len(y_test) else math.nan
    history = read_history(history_path)
    keys = ["experiment", "seed", "epochs_run", "kept_epoch", "stopped_early", "diverged"]
    keys += ["train_seconds", "seconds_per_epoch", "trainable_params", "total_params"]
    keys += ["backend", "device", "versions", "frozen_cache", "class_weight"]
    metrics = {
        **{key: summary.get(key) for key in keys},
        **kept_epoch_metrics(history, summary["kept_epoch"]),
        "test": evaluate_predictions(probabilities, y_test, class_names, loss),
        "class_names": class_names,
    }
    if metrics["validation"] is not None and len(arrays["y_validation"]):
        # The kept epoch's loss and accuracy come from training; the per-class scores from the model.
        validation = predict_in_batches(model, arrays["x_validation"], batch_size)
        scores = evaluate_predictions(validation, arrays["y_validation"], class_names, math.nan)
        for key in ("balanced_accuracy", "macro_f1", "per_class"):
            metrics["validation"][key] = scores[key]
    return metrics


def _trainable_text(trainable) -> str:
    return "+".join(trainable) if isinstance(trainable, list) else str(trainable)


def _class_weight_text(spec) -> str:
    if isinstance(spec, dict):
        return " ".join(f"{name}={weight:g}" for name, weight in spec.items())
    return spec or "none"


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
        for split in ("validation", "test"):
            for kind in ("balanced_accuracy", "macro_f1"):
                row[f"{split}_{kind}"] = (metrics.get(split) or {}).get(kind)
        row["class_weight"] = _class_weight_text(experiment.get("class_weight"))
        row["train_seconds"] = metrics["train_seconds"]
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["study", "experiment", "seed"], kind="stable")
