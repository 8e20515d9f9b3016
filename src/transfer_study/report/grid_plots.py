"""The figure of one grid: its validation metric over its axes, mean over seeds with their spread.

One axis: a line over its values (bars: lowest to highest seed; the test counterpart dashed beside
it). Two axes: a heatmap of the mean, each cell annotated with mean and standard deviation. More axes:
small multiples, one heatmap of the first two axes per combination of the others, on one colour scale.
"""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")  # no display anywhere the workflow runs

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from transfer_study.report.grids import metric_of, point_results, shown_metrics  # noqa: E402


def save(figure, outputs: list) -> None:
    for path in outputs:
        figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


def seed_values(metrics: list[dict], experiment: str, column: str) -> list[float]:
    values = [metric_of(item, column) for item in metrics if item["experiment"] == experiment]
    return [v for v in values if isinstance(v, int | float) and np.isfinite(v)]


def plot_line(grid: dict, points: list[dict], metrics: list[dict], words: dict, axis) -> None:
    labels = grid["axes"][0]["values"]
    positions = np.arange(len(labels))
    select, test = shown_metrics(grid)
    for column, style, colour in ((select, "o-", "tab:blue"), (test, "s--", "tab:grey")):
        means = np.array([np.nan if p[column]["mean"] is None else p[column]["mean"] for p in points])
        low, high = [], []
        for point, mean in zip(points, means, strict=True):
            values = seed_values(metrics, point["experiment"], column)
            low.append(mean - min(values) if values else 0)
            high.append(max(values) - mean if values else 0)
        bars = [low, high]
        axis.errorbar(positions, means, yerr=bars, fmt=style, color=colour, capsize=4, label=words[column])
    axis.set_xticks(positions, labels)
    axis.set_xlabel(grid["axes"][0]["name"])
    axis.set_ylabel(words["fig_accuracy"])
    axis.legend(fontsize=8)


def heatmap(grid: dict, points: list[dict], axis, scale: tuple[float, float], title: str | None = None):
    rows, columns = grid["axes"][0], grid["axes"][1]
    means = np.full((len(rows["values"]), len(columns["values"])), np.nan)
    for point in points:
        row, column = rows["values"].index(point["values"][0]), columns["values"].index(point["values"][1])
        summary = point[shown_metrics(grid)[0]]
        if summary["mean"] is None:
            continue
        means[row, column] = summary["mean"]
        text = f"{100 * summary['mean']:.1f}%"
        if summary["n"] > 1:
            text += f"\n± {100 * summary['std']:.1f}"
        dark = summary["mean"] < (scale[0] + scale[1]) / 2  # the low end of viridis is dark
        axis.text(column, row, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
    image = axis.imshow(means, cmap="viridis", vmin=scale[0], vmax=scale[1], alpha=0.85)
    axis.set_xticks(range(len(columns["values"])), columns["values"], rotation=30, ha="right")
    axis.set_yticks(range(len(rows["values"])), rows["values"])
    axis.set_xlabel(columns["name"])
    axis.set_ylabel(rows["name"])
    if title:
        axis.set_title(title, fontsize=9)
    return image


def plot_grid(grid: dict, metrics: list[dict], words: dict, outputs: list) -> None:
    points = point_results(grid, metrics)
    select = shown_metrics(grid)[0]
    means = [p[select]["mean"] for p in points if p[select]["mean"] is not None]
    scale = (min(means), max(means)) if means else (0.0, 1.0)
    if scale[0] == scale[1]:
        scale = (scale[0] - 0.01, scale[1] + 0.01)
    axes = grid["axes"]
    if len(axes) == 1:
        figure, axis = plt.subplots(figsize=(max(5, 1.2 * len(points)), 4))
        plot_line(grid, points, metrics, words, axis)
    else:
        others = [axis["values"] for axis in axes[2:]]
        panels = list(itertools.product(*others))
        width = len(axes[1]["values"]) * 1.3 + 2
        height = len(axes[0]["values"]) * 0.9 + 1.5
        columns = min(len(panels), 3)
        rows = -(-len(panels) // columns)
        size = (width * columns, height * rows)
        figure, grid_axes = plt.subplots(rows, columns, figsize=size, squeeze=False)
        for index, (panel, axis) in enumerate(itertools.zip_longest(panels, grid_axes.flat)):
            if panel is None:
                axis.set_visible(False)
                continue
            members = [p for p in points if tuple(p["values"][2:]) == panel]
            title = ", ".join(f"{a['name']} {v}" for a, v in zip(axes[2:], panel, strict=True)) or None
            image = heatmap(grid, members, axis, scale, title)
            if index % columns:  # the rows' axis is named once, left of the first panel of each row
                axis.set_ylabel("")
        figure.colorbar(image, ax=grid_axes.ravel().tolist(), label=words[select], shrink=0.8)
    figure.suptitle(words["fig_grid"].format(grid=grid["name"], metric=words[select]), fontsize=9)
    save(figure, outputs)
