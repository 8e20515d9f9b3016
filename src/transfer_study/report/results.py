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
    row["train_minutes"] = finite_or_none(metrics.get("train_seconds", math.nan) / 60)
    row["epochs_run"], row["kept_epoch"] = metrics.get("epochs_run"), metrics.get("kept_epoch")
    cache = metrics.get("frozen_cache")
    row["frozen_cache"] = bool(cache.get("used")) if isinstance(cache, dict) else None
    return row


def judge_reported(column: str, reported: float, values: list) -> dict:
    """A reported number against the interval where one more run of ours would fall."""
    ours = statistics.prediction_interval(statistics.sample(values))
    verdict = statistics.reported_verdict(reported, ours) if column in JUDGED else None
    return {"low": ours.low, "high": ours.high, "verdict": verdict}


def experiment_entry(
    name: str, experiment: dict, runs: list[dict], reported: dict | None, failed_seeds: list[int] = ()
) -> dict:
    summary = {column: summarise([run[column] for run in runs]) for column in COLUMNS}
    difference, judged = {}, {}
    for column, value in (reported or {}).items():
        mean = summary.get(column, {}).get("mean")
        difference[column] = None if mean is None else mean - value
        judged[column] = judge_reported(column, value, [run.get(column) for run in runs])
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
