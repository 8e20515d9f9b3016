"""The report's context: every number and sentence it shows, gathered from the run files.

The context is a plain JSON document written by its own rule; rendering (render.py) needs nothing but
that file and the figures. Run results come from results.py, verdicts from claims.py and statistics.py,
the method's sentences from method.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

from transfer_study.digests import digest
from transfer_study.report import claims as claim_checks
from transfer_study.report import method
from transfer_study.report.grids import grid_sections
from transfer_study.report.provenance import git_state
from transfer_study.report.render import metric_difference, percent
from transfer_study.report.results import (
    best_run,
    class_imbalance,
    experiment_entry,
    headline_metric,
    largest_loss,
    run_row,
)
from transfer_study.report.statistics import (
    ABOVE,
    BELOW,
    CONTRADICTED,
    HOLDS,
    NOT_CHECKED,
    ONE_SEED,
    UNRESOLVED,
    WITHIN,
)


def run_notes(entries: dict, t: dict) -> list[str]:
    """What the reader must know about the runs themselves: failed and diverged ones."""
    notes = []
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


def parameter_count(runs: list[dict], t: dict) -> str:
    """The weights a run's optimiser updates, of all the model's: `1,234 of 5,678` (every seed builds the
    same model, so the first run's counts stand for the experiment's)."""
    counted = [run for run in runs if run.get("trainable_params") is not None]
    if not counted:
        return "–"

    def grouped(number: int) -> str:
        return f"{number:,}".replace(",", t["thousands_separator"])

    trainable, total = counted[0]["trainable_params"], counted[0].get("total_params")
    if total is None:
        return grouped(trainable)
    return t["params_of"].format(trainable=grouped(trainable), total=grouped(total))


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
        "model": method.model_title(settings.get("model", "–")),
        "weights": settings.get("weights") or t["weights_none"],
        "trainable": trainable,
        "trainable_params": parameter_count(entry["runs"], t),
        "activation": (settings.get("head") or {}).get("activation", "–"),
        "augmentation": ", ".join(key for key, value in (augmentation or {}).items() if value) or "–",
        "frozen_cache": "–" if cache is None else t["word_yes" if cache else "word_no"],
    }


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
            {"group": group, "members": [entry["label"] for entry in members], "sentences": sentences}
        )
    return result


def comparison_text(comparison: dict, margin: float | None, t: dict) -> str:
    """`3-a − 3-b: +0.52 pp [−1.20 pp, +2.30 pp]`, in the unit of the compared metric."""
    a, b = comparison["label_a"], comparison["label_b"]
    if comparison["metric_a"] != comparison["metric_b"]:
        a, b = f"{a} ({t[comparison['metric_a']]})", f"{b} ({t[comparison['metric_b']]})"
    column = comparison["metric_a"]

    def shown(value):
        return metric_difference(value, column, t["points"])

    text = f"{a} − {b}: {shown(comparison['difference'])}"
    if comparison["low"] is not None:
        text += f" [{shown(comparison['low'])}, {shown(comparison['high'])}]"
    if margin is not None:
        text += f" ({t['margin']} ±{shown(margin).lstrip('+')})"
    return text


def claim_in_words(claim: dict, t: dict) -> dict:
    """A judged claim with its verdict and comparisons in the report's words."""
    if claim["missing"]:
        verdict = t["claim_missing"].format(names=", ".join(claim["missing"]))
    elif claim["no_runs"]:
        verdict = t["claim_no_runs"].format(names=", ".join(claim["no_runs"]))
    else:
        verdict = t[f"verdict_{claim['verdict']}"]
    shown = [comparison_text(c, claim["margin"], t) for c in claim["comparisons"]]
    return {**claim, "verdict_text": verdict, "shown": shown}


def tally(entries: dict, claims: list[dict]) -> dict:
    """The part's at-a-glance counts: reported numbers by where they fall, claims by verdict."""
    placed = [judged["verdict"] for e in entries.values() for judged in e["judged"].values()]
    numbers = {key: placed.count(key) for key in (WITHIN, ABOVE, BELOW, UNRESOLVED, ONE_SEED, NOT_CHECKED)}
    verdicts = [claim["verdict"] for claim in claims]
    checked = {key: verdicts.count(key) for key in (HOLDS, CONTRADICTED, UNRESOLVED, ONE_SEED, NOT_CHECKED)}
    return {
        "numbers": numbers,
        "numbers_total": sum(numbers.values()),
        "claims": checked,
        "claims_total": len(verdicts),
    }


def class_weight_text(spec, t: dict) -> str:
    """An experiment's `class_weight` as the report's tables show it."""
    if isinstance(spec, dict):
        return ", ".join(f"{name} {weight:g}" for name, weight in spec.items())
    return spec or t["class_weight_none"]


def study_entries(config: dict, experiments: dict, metrics: list[dict], reported: dict) -> dict[str, dict]:
    """Every experiment's entry (results.experiment_entry), by study, in config order."""
    runs: dict[str, list] = {}
    for item in metrics:
        runs.setdefault(item["experiment"], []).append(run_row(item))
    failed: dict[str, list] = {}
    for name, seed in config.get("failed_runs", []):
        failed.setdefault(name, []).append(seed)
    study_runs: dict[str, list] = {}
    for name, experiment in experiments.items():
        study_runs.setdefault(experiment["study"], []).extend(runs.get(name, []))
    ceilings = {study: largest_loss(rows) for study, rows in study_runs.items()}
    by_study: dict[str, dict] = {}
    for name, experiment in experiments.items():
        study = experiment["study"]
        reported_results = reported.get(study, {}).get("results", {})
        entry = experiment_entry(
            name,
            experiment,
            runs.get(name, []),
            reported_results.get(name),
            failed.get(name, []),
            loss_ceiling=ceilings[study],
        )
        by_study.setdefault(study, {})[name] = entry
    return by_study


def build_context(
    config: dict,
    experiments: dict,
    metrics: list[dict],
    stats: list[dict],
    reported: dict,
    benchmarks: dict[str, float | None],
    strings: dict,
    workflow_dir,
    claims: dict[str, list[dict]] | None = None,
    exports: list[dict] | None = None,
) -> dict:
    """Every number and sentence the report shows, as plain JSON. `exports` are the runs' export
    checks (transfer_study.export), shown in the provenance."""
    claims = claims or {}
    language = config.get("report", {}).get("language", "en")
    formats = {name: dataset.get("format") for name, dataset in config.get("datasets", {}).items()}
    by_study = study_entries(config, experiments, metrics, reported)
    # A claim may name any experiment of the config, a grid's included, not only those with a section.
    every = {**config.get("experiments", {}), **experiments}
    all_runs: dict[str, list] = {name: [] for name in every}
    for item in sorted(metrics, key=lambda item: item["seed"]):
        if item["experiment"] in every:
            all_runs[item["experiment"]].append(run_row(item))
    labels = {name: settings.get("label", name) for name, settings in every.items()}
    studies = {}
    for number, (study, entries) in enumerate(by_study.items(), start=1):
        reported_study = reported.get(study, {})
        metric = headline_metric(reported_study.get("results", {}))
        datasets = [
            s for s in stats if any(e["settings"]["dataset"] == s["dataset"] for e in entries.values())
        ]
        judged = [
            claim_in_words(claim_checks.judge_claim(claim, all_runs, labels, language), strings)
            for claim in claims.get(study, [])
        ]
        settings = [entry["settings"] for entry in entries.values()]
        for entry in entries.values():
            entry["class_weight"] = class_weight_text(entry["settings"].get("class_weight"), strings)
        imbalanced = [found for found in map(class_imbalance, datasets) if found]
        studies[study] = {
            "title": method.part_title(number, settings, formats, strings),
            "method": method.method_text(list(entries.values()), datasets, formats, strings),
            "experiments": list(entries.values()),
            "settings": [settings_row(entry, strings) for entry in entries.values()],
            "observations": run_notes(entries, strings),
            "claims": judged,
            "tally": tally(entries, judged),
            "best": best_run(entries),
            "headline_metric": metric,
            "groups": group_results(entries, metric, strings),
            "group_title": strings.get(f"group_{study}", strings["group_title"]),
            "hyperparameters": hyperparameter_rows(
                reported_study.get("hyperparameters", {}), settings[0], strings
            ),
            "datasets": datasets,
            "imbalance": max(imbalanced, key=lambda found: found["ratio"]) if imbalanced else None,
        }
    finished = metrics[0] if metrics else {}
    return {
        "demo": bool(config.get("demo")),
        "language": language,
        "seeds": config["seeds"],
        "intro": strings["intro"].format(
            n_seeds=len(config["seeds"]), seeds=", ".join(str(seed) for seed in config["seeds"])
        ),
        "studies": studies,
        "grids": grid_sections(config.get("grids", {}), metrics),
        # Claims of a write-up none of whose parts ran: listed, never dropped.
        "claims_elsewhere": [
            {"study": study, "id": claim["id"], "text": claim.get(language) or claim["en"]}
            for study, study_claims in claims.items()
            if study not in studies
            for claim in study_claims
        ],
        "provenance": provenance(config, metrics, benchmarks, workflow_dir, finished, exports or []),
    }


def provenance(config: dict, metrics: list[dict], benchmarks: dict, workflow_dir, finished: dict,
               exports: list[dict] = ()) -> dict:  # fmt: skip
    return {
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
        # Each export and how closely its runtime reproduced the Keras model.
        "exports": [
            {
                key: check[key]
                for key in (
                    "experiment",
                    "seed",
                    "format",
                    "runtime",
                    "images",
                    "top1_equal",
                    "max_probability_difference",
                    "tolerance",
                    "sha256",
                )  # fmt: skip
            }
            for check in sorted(exports, key=lambda item: (item["experiment"], item["seed"], item["format"]))
        ],
    }
