"""The report's context (every number it shows, gathered from the run files) and its rendering.

One context feeds both templates (HTML and LaTeX), so the two formats cannot disagree. The context is a
plain JSON document written by its own rule; rendering needs nothing but that file and the figures.
"""

from __future__ import annotations

import base64
import csv
import json
import math
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import yaml

from transfer_study.config import digest
from transfer_study.report.grids import grid_sections

METRICS = [f"{split}_{kind}" for split in ("train", "validation", "test") for kind in ("accuracy", "loss")]
COLUMNS = [*METRICS, "train_minutes"]


def load_strings(path, language: str) -> dict:
    """The report's words in one language (report/strings.yaml); English fills any key a language lacks."""
    with open(path) as handle:
        every = yaml.safe_load(handle)
    if language not in every:
        raise ValueError(f"{path}: no strings for report.language {language!r}; known: {sorted(every)}")
    return {**every["en"], **every[language]}


def finite_or_none(value):
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def summarise(values: list) -> dict:
    """Mean and sample standard deviation of the finite values (None where there are none)."""
    finite = [v for v in (finite_or_none(v) for v in values) if v is not None]
    if not finite:
        return {"mean": None, "std": None, "n": 0}
    spread = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return {"mean": statistics.fmean(finite), "std": spread, "n": len(finite)}


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


def experiment_entry(
    name: str, experiment: dict, runs: list[dict], reported: dict | None, failed_seeds: list[int] = ()
) -> dict:
    summary = {column: summarise([run[column] for run in runs]) for column in COLUMNS}
    difference = {}
    for column, value in (reported or {}).items():
        mean = summary.get(column, {}).get("mean")
        difference[column] = None if mean is None else mean - value
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
        "diverged_runs": sum(run["diverged"] for run in runs),
        "failed": not runs,
        "failed_seeds": sorted(failed_seeds),
        "frozen_cache": caching.pop() if len(caching) == 1 else None,
    }


def read_benchmark_seconds(path) -> float | None:
    with open(path) as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return float(rows[0]["s"]) if rows else None


def git_state(folder) -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=30)

    try:
        commit = git("rev-parse", "HEAD")
    except OSError:  # no git on this machine
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(git("status", "--porcelain").stdout.strip())}


def percent(value) -> str:
    return number(value, 4, percent=True)


def observations(study: str, entries: dict, t: dict) -> list[str]:
    """Sentences computed from our own numbers; each one states only what the numbers show."""

    def mean(name, column):
        return entries[name]["summary"][column]["mean"] if name in entries else None

    notes = []
    if study == "beans":
        softmax, relu = mean("beans-1-softmax", "test_accuracy"), mean("beans-1-relu", "test_accuracy")
        if softmax is not None and relu is not None:
            if math.isclose(softmax, relu, abs_tol=1e-9):
                notes.append(t["obs_scratch_tie"].format(softmax=percent(softmax)))
            else:
                better = "softmax" if softmax > relu else "ReLU"
                shown = {"softmax": percent(softmax), "relu": percent(relu)}
                notes.append(t["obs_scratch"].format(better=better, **shown))
        extract = mean("beans-2", "test_accuracy")
        tuned = {
            name: mean(name, "test_accuracy")
            for name in ("beans-3a", "beans-3b", "beans-3c")
            if mean(name, "test_accuracy") is not None
        }
        if extract is not None and tuned:
            best = max(tuned, key=tuned.get)
            verdict = t["obs_beat"] if tuned[best] > extract else t["obs_not_beat"]
            notes.append(
                t["obs_finetune"].format(
                    verdict=verdict,
                    best_label=entries[best]["label"],
                    best=percent(tuned[best]),
                    extract=percent(extract),
                )  # fmt: skip
            )
        timed = [name for name in tuned if mean(name, "train_minutes") is not None]
        if len(timed) > 1:
            parts = "; ".join(
                t["obs_time_part"].format(
                    label=entries[name]["label"],
                    minutes=number(mean(name, "train_minutes"), 2),
                    accuracy=percent(tuned[name]),
                )  # fmt: skip
                for name in timed
            )
            notes.append(t["obs_time"].format(parts=parts))
    elif study == "cifar10":
        stages = [name for name in entries if mean(name, "validation_accuracy") is not None]
        if len(stages) > 1:
            values = [mean(name, "validation_accuracy") for name in stages]
            parts = "; ".join(
                f"{entries[n]['label']} {percent(v)}" for n, v in zip(stages, values, strict=True)
            )
            rising = all(later > earlier for earlier, later in zip(values, values[1:], strict=False))
            notes.append(t["obs_stages" if rising else "obs_stages_not"].format(parts=parts))
    for entry in entries.values():
        if entry["failed"]:
            notes.append(t["obs_failed"].format(label=entry["label"]))
        elif entry["failed_seeds"]:
            seeds = ", ".join(str(seed) for seed in entry["failed_seeds"])
            notes.append(t["obs_failed_seeds"].format(label=entry["label"], seeds=seeds))
        if entry["diverged_runs"]:
            notes.append(t["obs_diverged"].format(label=entry["label"], count=entry["diverged_runs"]))
    return notes


def hyperparameter_rows(reported: dict, experiment: dict, t: dict) -> list[dict]:
    """The write-up's hyperparameter table next to the settings of our first experiment of that study."""
    stopping = experiment.get("early_stopping")
    ours = {
        "learning_rate": experiment["optimizer"]["learning_rate"],
        "epochs": experiment["epochs"],
        "batch_size": experiment["batch_size"],
        "early_stopping_patience": stopping["patience"] if stopping else "–",
        "loss": experiment.get("loss", "").replace("_", " "),
        "optimizer": experiment["optimizer"]["name"],
    }
    return [
        {"name": t.get(f"hp_{key}", key.replace("_", " ")), "reported": value, "ours": ours.get(key, "–")}
        for key, value in reported.items()
    ]


def settings_row(entry: dict, t: dict) -> dict:
    """What distinguishes one experiment, in words the reader can compare across rows."""
    settings = entry["settings"]
    trainable = settings.get("trainable")
    if trainable in ("all", "none"):
        trainable = t[f"trainable_{trainable}"]
    elif isinstance(trainable, list):
        trainable = ", ".join(trainable)
    augmentation = settings.get("augmentation")
    cache = entry["frozen_cache"]
    return {
        "label": entry["label"],
        "description": entry["description"],
        "weights": settings.get("weights") or t["weights_none"],
        "trainable": trainable,
        "activation": (settings.get("head") or {}).get("activation", "–"),
        "augmentation": ", ".join(key for key, value in (augmentation or {}).items() if value) or "–",
        "frozen_cache": "–" if cache is None else t["word_yes" if cache else "word_no"],
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


def group_results(entries: dict, metric: str, t: dict) -> list[dict]:
    """The experiments of each figure group and one sentence per experiment on its headline number."""
    groups: dict[str, list] = {}
    for entry in entries.values():
        groups.setdefault(entry["group"], []).append(entry)
    result = []
    for group, members in groups.items():
        sentences = []
        for entry in members:
            ours = entry["summary"][metric]
            shown = percent(ours["mean"]) + (f" ± {percent(ours['std'])}" if ours["n"] > 1 else "")
            reported = entry["reported"].get(metric)
            key = "group_result" if reported is not None else "group_result_unreported"
            sentences.append(
                t[key].format(metric=t[metric], label=entry["label"], ours=shown, reported=percent(reported))
            )
        result.append(
            {
                "group": group,
                "members": [entry["label"] for entry in members],
                "sentences": sentences,
            }
        )
    return result


def dataset_facts(stats: dict) -> dict:
    splits = ", ".join(f"{name} {split['total']}" for name, split in stats["splits"].items())
    return {
        "classes": ", ".join(stats["class_names"]),
        "splits": splits,
        "size": stats["image_shape"][0],
    }


def build_context(
    config: dict,
    experiments: dict,
    metrics: list[dict],
    stats: list[dict],
    reported: dict,
    benchmarks: dict[str, float | None],
    strings: dict,
    workflow_dir,
) -> dict:
    """Every number and sentence the report shows, as plain JSON."""
    runs: dict[str, list] = {}
    for item in metrics:
        runs.setdefault(item["experiment"], []).append(run_row(item))
    failed: dict[str, list] = {}
    for name, seed in config.get("failed_runs", []):
        failed.setdefault(name, []).append(seed)
    by_study: dict[str, dict] = {}
    for name, experiment in experiments.items():
        study = experiment["study"]
        reported_results = reported.get(study, {}).get("results", {})
        entry = experiment_entry(
            name, experiment, runs.get(name, []), reported_results.get(name), failed.get(name, [])
        )
        by_study.setdefault(study, {})[name] = entry
    studies = {}
    for study, entries in by_study.items():
        reported_study = reported.get(study, {})
        metric = headline_metric(reported_study.get("results", {}))
        datasets = [
            s for s in stats if any(e["settings"]["dataset"] == s["dataset"] for e in entries.values())
        ]
        method = strings.get(f"method_{study}")
        studies[study] = {
            "title": strings.get(f"part_{study}", study),
            "method": method.format(**dataset_facts(datasets[0])) if method and datasets else None,
            "experiments": list(entries.values()),
            "settings": [settings_row(entry, strings) for entry in entries.values()],
            "observations": observations(study, entries, strings),
            "best": best_run(entries),
            "headline_metric": metric,
            "groups": group_results(entries, metric, strings),
            "group_title": strings.get(f"group_{study}", "{group}"),
            "hyperparameters": hyperparameter_rows(
                reported_study.get("hyperparameters", {}), next(iter(entries.values()))["settings"], strings
            ),
            "datasets": datasets,
        }
    finished = metrics[0] if metrics else {}
    return {
        "demo": bool(config.get("demo")),
        "language": config.get("report", {}).get("language", "en"),
        "seeds": config["seeds"],
        "intro": strings["intro"].format(
            n_seeds=len(config["seeds"]), seeds=", ".join(str(seed) for seed in config["seeds"])
        ),
        "studies": studies,
        "grids": grid_sections(config.get("grids", {}), metrics),
        "provenance": {
            **git_state(workflow_dir),
            "config_digest": config.get("config_digest") or digest(config),
            "backend": finished.get("backend"),
            "device": finished.get("device"),
            "versions": finished.get("versions", {}),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "jobs": [{"job": job, "seconds": seconds} for job, seconds in sorted(benchmarks.items())],
            # Where each run trained: a study split over machines shows it here.
            "runs": [
                {key: item.get(key) for key in ("experiment", "seed", "backend", "device")}
                for item in sorted(metrics, key=lambda item: (item["experiment"], item["seed"]))
            ],
        },
    }


def number(value, digits: int = 4, percent: bool = False) -> str:
    """NaN- and None-safe formatting for both templates."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{100 * value:.{max(digits - 2, 1)}f}%" if percent else f"{value:.{digits}f}"


# LaTeX uses braces and percent signs itself, so its template marks its code differently.
LATEX_DELIMITERS = {
    "block_start_string": "((*",
    "block_end_string": "*))",
    "variable_start_string": "(((",
    "variable_end_string": ")))",
    "comment_start_string": "((#",
    "comment_end_string": "#))",
}


def environment(templates: Path, latex: bool = False) -> jinja2.Environment:
    options = LATEX_DELIMITERS if latex else {}
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=not latex,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        **options,
    )
    env.filters["number"] = number
    env.filters["latex"] = latex_escape
    return env


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", "±": r"$\pm$", "–": "--",
}  # fmt: skip


def latex_escape(text) -> str:
    return "".join(LATEX_SPECIAL.get(char, char) for char in str(text))


def data_uri(path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def render(
    context: dict,
    strings: dict,
    templates: Path,
    template: str,
    figures: dict[str, str],
    latex: bool = False,
    pdf: dict | None = None,
) -> str:
    """One template filled from the context; figures are embedded (HTML) or referenced by path (LaTeX).

    `pdf` ({"build": bool, "reason": str}) says in the HTML whether the run builds the PDF beside it.
    """
    images = figures if latex else {key: data_uri(path) for key, path in figures.items()}
    return (
        environment(templates, latex)
        .get_template(template)
        .render(context=context, t=strings, figures=images, metrics=METRICS, columns=COLUMNS, pdf=pdf)
    )


def load_json_files(paths) -> list[dict]:
    return [json.loads(Path(path).read_text()) for path in paths]
