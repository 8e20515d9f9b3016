"""The runs' own numbers, gathered from the files the evaluate and train rules write.

Used by the report's context and by the figures alike, so both show the same summary of each run.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from transfer_study.report import statistics

METRICS = [f"{split}_{kind}" for split in ("train", "validation", "test") for kind in ("accuracy", "loss")]
COLUMNS = [*METRICS, "train_minutes"]
# The results table in two parts (accuracies; losses and train time), so each fits a page's width.
COLUMN_GROUPS = [
    [column for column in COLUMNS if column.endswith("accuracy")],
    [column for column in COLUMNS if not column.endswith("accuracy")],
]
# Train time depends on the machine; a write-up's minutes are shown, never judged against ours.
JUDGED = METRICS
# What still means something when the classes are imbalanced: shown where a dataset is (see
# class_imbalance), and a claim's or grid's metric anywhere.
BALANCE_METRICS = [
    f"{split}_{kind}" for split in ("validation", "test") for kind in ("balanced_accuracy", "macro_f1")
]
CLAIMABLE = [*COLUMNS, *BALANCE_METRICS]
# A dataset whose largest class has more than this many times the images of its smallest (in a split).
IMBALANCE_RATIO = 1.5


def is_fraction(column: str) -> bool:
    """Accuracies and F1 scores lie in [0, 1] and are shown in percent."""
    return column.endswith(("accuracy", "f1"))


def class_imbalance(stats: dict) -> dict | None:
    """The split of a dataset's stats.json whose largest class outnumbers its smallest the most, where
    that is more than IMBALANCE_RATIO times; None for a balanced dataset."""
    worst = None
    for split, counts in stats.get("splits", {}).items():
        values = list(counts.get("per_class", {}).values())
        if len(values) < 2 or min(values) == 0:
            continue
        ratio = max(values) / min(values)
        if ratio > IMBALANCE_RATIO and (worst is None or ratio > worst["ratio"]):
            largest = max(counts["per_class"], key=counts["per_class"].get)
            smallest = min(counts["per_class"], key=counts["per_class"].get)
            worst = {"dataset": stats.get("dataset"), "split": split, "ratio": ratio,
                     "largest": largest, "smallest": smallest}  # fmt: skip
    return worst


def finite_or_none(value):
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def summarise(values: list) -> dict:
    """Mean and sample standard deviation of the finite values (None where there are none)."""
    found = statistics.sample(values)
    spread = found.std if found.n > 1 else (0.0 if found.n else None)
    return {"mean": found.mean, "std": spread, "n": found.n}


def run_row(metrics: dict) -> dict:
    """One finished run (one experiment, one seed) as the numbers the tables show."""
    row = {"seed": metrics["seed"], "diverged": bool(metrics.get("diverged"))}
    for split in ("train", "validation", "test"):
        values = metrics.get(split) or {}
        for kind in ("accuracy", "loss"):
            row[f"{split}_{kind}"] = finite_or_none(values.get(kind))
    for column in BALANCE_METRICS:
        split, kind = column.split("_", 1)
        row[column] = finite_or_none((metrics.get(split) or {}).get(kind))
    row["train_minutes"] = finite_or_none(metrics.get("train_seconds", math.nan) / 60)
    row["epochs_run"], row["kept_epoch"] = metrics.get("epochs_run"), metrics.get("kept_epoch")
    for count in ("trainable_params", "total_params"):
        row[count] = metrics.get(count)
    cache = metrics.get("frozen_cache")
    row["frozen_cache"] = bool(cache.get("used")) if isinstance(cache, dict) else None
    return row


def reported_results(path, study: str) -> dict:
    """The numbers config/reported.yaml gives for one study's experiments, by experiment."""
    import yaml

    with open(path) as handle:
        return (yaml.safe_load(handle) or {}).get(study, {}).get("results", {})


def metric_range(column: str, largest_loss: float | None) -> tuple[float, float]:
    """The values a metric can take: 0 to 1 for an accuracy; for a loss, 0 to the largest loss of our
    runs (a loss has no upper bound, and an interval wider than anything the runs reached says nothing)."""
    if is_fraction(column):
        return 0.0, 1.0
    return 0.0, largest_loss if largest_loss is not None else math.inf


def largest_loss(runs: list[dict]) -> float | None:
    """The largest finite loss of any split of these runs."""
    losses = [run.get(f"{split}_loss") for run in runs for split in ("train", "validation", "test")]
    losses = [value for value in losses if finite_or_none(value) is not None]
    return max(losses) if losses else None


def judge_reported(column: str, reported: float, values: list, loss_ceiling: float | None = None) -> dict:
    """A reported number against the interval where one more run of ours would fall: the verdict from
    the unclipped interval, the interval shown within the metric's range."""
    ours = statistics.prediction_interval(statistics.sample(values))
    low, high = metric_range(column, loss_ceiling)
    verdict = statistics.reported_verdict(reported, ours, high - low) if column in JUDGED else None
    shown = statistics.clipped(ours, low, high)
    no_spread = ours.low is not None and ours.low == ours.high
    return {"low": shown.low, "high": shown.high, "verdict": verdict, "no_spread": no_spread}


def experiment_entry(
    name: str,
    experiment: dict,
    runs: list[dict],
    reported: dict | None,
    failed_seeds: list[int] = (),
    loss_ceiling: float | None = None,
) -> dict:
    """One experiment's runs summarised and its reported numbers judged; `loss_ceiling` is the largest
    loss of the study's runs (every experiment's), the range a loss's interval is measured against."""
    summary = {column: summarise([run.get(column) for run in runs]) for column in CLAIMABLE}
    if loss_ceiling is None:
        loss_ceiling = largest_loss(runs)
    difference, judged = {}, {}
    for column, value in (reported or {}).items():
        mean = summary.get(column, {}).get("mean")
        difference[column] = None if mean is None else mean - value
        judged[column] = judge_reported(column, value, [run.get(column) for run in runs], loss_ceiling)
    caching = {run["frozen_cache"] for run in runs if run.get("frozen_cache") is not None}
    return {
        "name": name,
        "label": experiment.get("label", name),
        "group": experiment.get("group") or name,
        "description": experiment.get("description", ""),
        "settings": experiment,
        "runs": sorted(runs, key=lambda run: run["seed"]),
        "summary": summary,
        "reported": reported or {},
        "difference": difference,
        "judged": judged,
        "diverged_runs": sum(run["diverged"] for run in runs),
        "failed": not runs,
        "failed_seeds": sorted(failed_seeds),
        "frozen_cache": caching.pop() if len(caching) == 1 else None,
    }


def best_run(entries: dict) -> dict | None:
    """The experiment with the highest mean validation accuracy, and its best seed."""
    ranked = [e for e in entries.values() if e["summary"]["validation_accuracy"]["mean"] is not None]
    if not ranked:
        return None
    entry = max(ranked, key=lambda e: e["summary"]["validation_accuracy"]["mean"])
    run = max(entry["runs"], key=lambda r: r["validation_accuracy"] or -1)
    return {
        "experiment": entry["name"],
        "label": entry["label"],
        "seed": run["seed"],
        "test_accuracy": run["test_accuracy"],
        "reported_test_accuracy": entry["reported"].get("test_accuracy"),
    }


def headline_metric(reported_results: dict) -> str:
    """The accuracy a study's write-up reported for every experiment: test where it can, else validation."""
    if reported_results and all("test_accuracy" in r for r in reported_results.values()):
        return "test_accuracy"
    return "validation_accuracy"


def read_benchmark_seconds(path) -> float | None:
    with open(path) as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return float(rows[0]["s"]) if rows else None


def load_json_files(paths) -> list[dict]:
    return [json.loads(Path(path).read_text()) for path in paths]
