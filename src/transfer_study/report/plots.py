"""Figures of the report: learning curves per group, confusion matrices, reproduced against reported.

Each function draws from the run files directly and writes one PNG (for HTML) and one PDF (for LaTeX).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display anywhere the workflow runs

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from transfer_study.report.results import best_run, experiment_entry, headline_metric, run_row  # noqa: E402
from transfer_study.training.history import read_history  # noqa: E402


def save(figure, outputs: list) -> None:
    for path in outputs:
        figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


def stacked(histories: list[list[dict]], key: str) -> np.ndarray:
    """Seeds x epochs, padded with NaN where a seed stopped early."""
    length = max(len(history) for history in histories)
    table = np.full((len(histories), length), np.nan)
    for row, history in enumerate(histories):
        values = [entry.get(key, np.nan) for entry in history]
        table[row, : len(values)] = values
    return table


def plot_curves(groups: dict[str, list], words: dict, outputs: list, references: dict | None = None) -> None:
    """Loss and accuracy, train and validation, per experiment: mean over seeds, band = min to max.

    `references` maps a label to the final validation accuracy its write-up reported, drawn as a
    dotted line in the experiment's colour so each curve can be read against the number it reproduces.
    """
    references = references or {}
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    colours = dict(zip(groups, plt.cm.tab10.colors, strict=False))  # fixed before failed runs drop out
    groups = {label: paths for label, paths in groups.items() if paths}  # failed runs have no history
    if not groups:
        for axis in axes:
            axis.text(0.5, 0.5, words["fig_no_run"], ha="center", va="center", transform=axis.transAxes)
    for label, reference in references.items():
        if label in colours and reference is not None:
            axes[1].axhline(
                reference,
                linestyle=":",
                linewidth=1.2,
                color=colours[label],
                label=words["fig_reference"].format(label=label, value=100 * reference),
            )
    for label, paths in groups.items():
        colour = colours[label]
        histories = [read_history(path) for path in paths]
        for axis, metric in zip(axes, ("loss", "accuracy"), strict=True):
            for key, style in ((metric, "-"), (f"val_{metric}", "--")):
                table = stacked(histories, key)
                epochs = np.arange(1, table.shape[1] + 1)
                with np.errstate(all="ignore"):
                    mean = np.nanmean(table, axis=0)
                axis.plot(
                    epochs,
                    mean,
                    style,
                    color=colour,
                    label=f"{label} ({words['fig_validation' if style == '--' else 'fig_train']})",
                )
                if len(histories) > 1:
                    axis.fill_between(
                        epochs, np.nanmin(table, 0), np.nanmax(table, 0), color=colour, alpha=0.15
                    )
            axis.set_xlabel(words["fig_epoch"])
            axis.set_ylabel(words[f"fig_{metric}"])
    if groups or references:
        axes[1].legend(fontsize=7, loc="lower right")
    figure.suptitle(words["fig_band"], fontsize=9)
    save(figure, outputs)


def plot_confusion(matrix, class_names: list[str], title: str, words: dict, outputs: list) -> None:
    matrix = np.asarray(matrix)
    size = max(4, 0.6 * len(class_names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        axis.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=8)
    axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel(words["fig_predicted"])
    axis.set_ylabel(words["fig_true"])
    axis.set_title(title, fontsize=9)
    save(figure, outputs)


def plot_reproduced(entries: list[dict], metric: str, words: dict, outputs: list) -> None:
    """Per experiment: ours as mean with the seed range, the write-up's number as a marker."""
    figure, axis = plt.subplots(figsize=(max(5, 1.1 * len(entries)), 4))
    for index, entry in enumerate(entries):
        values = [v for v in entry["values"] if v is not None and np.isfinite(v)]
        if values:
            mean = float(np.mean(values))
            low, high = mean - min(values), max(values) - mean
            axis.errorbar(index, mean, yerr=[[low], [high]], fmt="o", color="tab:blue", capsize=4,
                          label=words["fig_reproduced"] if index == 0 else None)  # fmt: skip
        if entry.get("reported") is not None:
            axis.plot(index, entry["reported"], "x", color="tab:red", markersize=9,
                      label=words["fig_reported"] if index == 0 else None)  # fmt: skip
    axis.set_xticks(range(len(entries)), [entry["label"] for entry in entries])
    axis.set_ylabel(words[metric])
    axis.set_ylim(0, 1.02)
    axis.legend(fontsize=8)
    save(figure, outputs)


def study_best(metrics: list[dict], labels: dict, reported: dict) -> tuple[dict | None, dict]:
    """The study's best run (results.best_run, as the report names it) and every experiment's entry."""
    entries = {}
    for name, label in labels.items():
        runs = [run_row(item) for item in metrics if item["experiment"] == name]
        entries[name] = experiment_entry(name, {"label": label}, runs, reported.get(name))
    return best_run(entries), entries


MISTAKES_SHOWN = 24


def most_confident_mistakes(rows: list[dict], limit: int = MISTAKES_SHOWN) -> list[tuple[int, dict]]:
    """(test index, row) of the wrong predictions with the highest probability, highest first."""
    wrong = [(index, row) for index, row in enumerate(rows) if row["correct"] is False]
    return sorted(wrong, key=lambda item: (-item[1]["probability"], item[0]))[:limit]


def plot_mistakes(mistakes: list[tuple[int, dict]], images, title: str, words: dict, outputs: list) -> None:
    """A gallery of mistakes: each test image with its true class, the class predicted and how sure."""
    columns = 6
    rows = max(1, -(-len(mistakes) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.6, rows * 1.95), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (index, row) in zip(axes.flat, mistakes, strict=False):
        axis.imshow(images[index], interpolation="nearest")
        axis.set_title(
            f"{row['true_class']}\n→ {row['predicted_class']} ({100 * row['probability']:.0f} %)", fontsize=6
        )
    if not mistakes:
        axes[0, 0].text(0, 0.5, words["fig_no_mistakes"], fontsize=9, transform=axes[0, 0].transAxes)
    figure.suptitle(title, fontsize=9)
    save(figure, outputs)


def plot_study_figures(metrics: list[dict], labels: dict, reported: dict, words: dict, outputs) -> None:
    """The confusion matrix of the study's best run and its reproduced-against-reported chart."""
    best, entries = study_best(metrics, labels, reported)
    confusion_files = [outputs.confusion_png, outputs.confusion_pdf]
    if best is not None:
        key = (best["experiment"], best["seed"])
        chosen = next(item for item in metrics if (item["experiment"], item["seed"]) == key)
        title = words["fig_best"].format(label=best["label"], seed=best["seed"])
        matrix = chosen["test"]["confusion_matrix"]
        plot_confusion(matrix, chosen["class_names"], title, words, confusion_files)
    else:
        plot_confusion([[0]], ["–"], words["fig_no_run"], words, confusion_files)
    metric = headline_metric(reported)
    chart = [
        {
            "label": entry["label"],
            "values": [run[metric] for run in entry["runs"]],
            "reported": entry["reported"].get(metric),
        }
        for entry in entries.values()
    ]
    plot_reproduced(chart, metric, words, [outputs.reproduced_png, outputs.reproduced_pdf])
