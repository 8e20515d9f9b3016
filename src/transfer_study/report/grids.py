"""The report's grid section: per grid, its validation metric (`select`: accuracy by default, or balanced
accuracy or macro F1) over its axes with the spread over seeds, the best point chosen on it (never on
test), and a table with the same metric on test beside it.

Reads only the grid's spec (transfer_study.grids.Grid.spec) and the runs' metrics.json contents.
"""

from __future__ import annotations

import math
import statistics

# What a grid is judged on unless it names another; the test counterpart is shown, never used to choose.
METRIC = "validation_accuracy"


def shown_metrics(grid: dict) -> tuple[str, str]:
    """The grid's selection metric and the same metric on test."""
    select = grid.get("select") or METRIC
    return select, "test_" + select.removeprefix("validation_")


def spread(values: list) -> dict:
    """Mean and sample standard deviation of the finite values, and how many there were."""
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not finite:
        return {"mean": None, "std": None, "n": 0}
    return {
        "mean": statistics.fmean(finite),
        "std": statistics.stdev(finite) if len(finite) > 1 else 0.0,
        "n": len(finite),
    }


def metric_of(metrics: dict, column: str):
    split, kind = column.split("_", 1)  # validation_balanced_accuracy: validation, balanced_accuracy
    return (metrics.get(split) or {}).get(kind)


def point_results(grid: dict, metrics: list[dict]) -> list[dict]:
    """Every point of the grid in its order, with the seeds' spread of each shown metric."""
    by_experiment: dict[str, list] = {}
    for item in metrics:
        by_experiment.setdefault(item["experiment"], []).append(item)
    keys = [axis["key"] for axis in grid["axes"]]
    points = []
    for point in grid["points"]:
        runs = by_experiment.get(point["experiment"], [])
        values = [point["values"][key] for key in keys]
        names = [axis["name"] for axis in grid["axes"]]
        points.append(
            {
                "experiment": point["experiment"],
                "values": values,
                "where": ", ".join(f"{name} {value}" for name, value in zip(names, values, strict=True)),
                "seeds": sorted(run["seed"] for run in runs),
                **{
                    column: spread([metric_of(run, column) for run in runs]) for column in shown_metrics(grid)
                },
            }
        )
    return points


def best_point(points: list[dict], metric: str = METRIC) -> dict | None:
    """The point with the highest mean of the validation metric; test plays no part in the choice."""
    ranked = [point for point in points if point[metric]["mean"] is not None]
    return max(ranked, key=lambda point: point[metric]["mean"]) if ranked else None


def grid_sections(grids: dict, metrics: list[dict]) -> list[dict]:
    """One section per grid, in config order, as plain JSON for both templates."""
    sections = []
    for name, grid in grids.items():
        points = point_results(grid, metrics)
        select, test = shown_metrics(grid)
        best = best_point(points, select)
        for point in points:
            point["best"] = best is not None and point["experiment"] == best["experiment"]
        sections.append(
            {
                "name": name,
                "base": grid.get("base"),
                "axes": grid["axes"],
                "metric": select,
                "shown": [select, test],
                "points": points,
                "best": best,
                "figure": f"grid-{name}",
            }
        )
    return sections
