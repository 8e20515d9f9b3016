"""A model card per run: what the model is, what it was trained and tested on, how well it did (with
the spread over the experiment's seeds), and where it should not be trusted.

Written as JSON (every fact, the numbers copied from metrics.json and train.json) and as Markdown (the
same facts for people), beside the run's model.keras. Only the run files, the dataset's stats.json and
the config's description of the experiment and its weights are read.
"""

from __future__ import annotations

import json

from transfer_study.report.results import CLAIMABLE, is_fraction, run_row, summarise

SHOWN_METRICS = ("accuracy", "loss", "balanced_accuracy", "macro_f1")


def model_card(name: str, experiment: dict, metrics: dict, summary: dict, stats: dict,
               seed_metrics: list[dict], weights: dict | None, model_sha256: str | None = None,
               exports: dict | None = None) -> dict:  # fmt: skip
    """The card's facts. `seed_metrics` holds metrics.json of every seed of the experiment (this one's
    included), `weights` the config's source of the pretrained base (None when trained from scratch),
    `exports` the run's export checks by format (export/check.json)."""
    rows = [run_row(item) for item in seed_metrics]
    spread = {column: summarise([row.get(column) for row in rows]) for column in CLAIMABLE}
    data = {
        "dataset": stats.get("dataset", experiment["dataset"]),
        "format": stats.get("format"),
        "image_size": experiment.get("image_size"),
        "class_names": metrics["class_names"],
        "splits": stats.get("splits", {}),
        "sources": stats.get("sources", {}),
        "skipped_files": len(stats.get("skipped", [])),
    }
    for drawn in ("validation_split", "pool_split"):
        if drawn in stats:
            data[drawn] = {key: value for key, value in stats[drawn].items() if key != "members"}
    return {
        "experiment": name,
        "seed": metrics["seed"],
        "label": experiment.get("label", name),
        "study": experiment.get("study"),
        "task": f"image classification into {len(metrics['class_names'])} classes",
        "intended_use": (
            f"Classifying images like those of the {data['dataset']} dataset it was trained and tested on "
            f"({experiment.get('image_size')} x {experiment.get('image_size')} px RGB, raw 0-255 pixels in)."
        ),
        "data": data,
        "model": {
            "family": experiment["model"],
            "weights": experiment.get("weights"),
            "weights_source": weights,
            "trainable": experiment.get("trainable"),
            "batchnorm": experiment.get("batchnorm", "frozen"),
            "head": experiment.get("head"),
            "trainable_params": metrics.get("trainable_params"),
            "total_params": metrics.get("total_params"),
        },
        "files": {
            "model.keras": {"sha256": model_sha256},
            **{
                check["artifact"]: {
                    key: check[key]
                    for key in (
                        "format",
                        "sha256",
                        "bytes",
                        "runtime",
                        "images",
                        "top1_equal",
                        "max_probability_difference",
                        "tolerance",
                        "passed",
                    )  # fmt: skip
                }
                for check in (exports or {}).values()
            },
        },
        "settings": experiment,
        "metrics": {
            split: {key: (metrics.get(split) or {}).get(key) for key in SHOWN_METRICS}
            for split in ("train", "validation", "test")
        }
        | {"test_images": (metrics.get("test") or {}).get("images")},
        "seed_spread": {"seeds": sorted(row["seed"] for row in rows), **spread},
        "training": {
            key: summary.get(key)
            for key in (
                "epochs_run",
                "epochs_max",
                "kept_epoch",
                "stopped_early",
                "diverged",
                "train_seconds",
                "train_images",
                "class_weight",
                "precision",
                "backend",
                "device",
                "versions",
            )
        },  # fmt: skip
        "limitations": limitations(metrics, data, len(rows)),
    }


def limitations(metrics: dict, data: dict, seeds: int) -> list[str]:
    """Where the card's numbers stop meaning much, from the run's own facts."""
    test = (metrics.get("test") or {}).get("images") or 0
    notes = [
        f"It was tested on {test} images of the same source as its training images; on photos taken "
        "otherwise (other devices, light, places, classes) its accuracy is unknown.",
        "It knows only the classes listed and gives every image one of them, however unlike them it is.",
    ]
    if test and test < 1000:
        notes.append(f"With {test} test images, one image is {100 / test:.2g} points of test accuracy.")
    if seeds < 3:
        notes.append(f"The spread over seeds comes from {seeds} run(s), too few to say much about it.")
    counts = [c for split in data["splits"].values() for c in (split.get("per_class") or {}).values()]
    if counts and min(counts) and max(counts) / min(counts) > 1.5:
        notes.append("Its classes are imbalanced: read balanced accuracy and macro F1 beside accuracy.")
    return notes


def _shown(value, key: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and is_fraction(key):
        return f"{100 * value:.2f} %"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _export_check_text(facts: dict) -> str:
    if "format" not in facts:
        return "(the model itself)"
    runtime = facts["runtime"]
    return (
        f"{runtime['name']} {runtime['version']}: top-1 equal on {facts['top1_equal']} of {facts['images']} "
        f"test images, largest probability difference {facts['max_probability_difference']:.2g}"
    )


def card_markdown(card: dict) -> str:
    """The card for people: headings, short tables, the settings as JSON."""
    data, model, training = card["data"], card["model"], card["training"]
    lines = [
        f"# Model card: {card['label']} (seed {card['seed']})",
        "",
        f"Experiment `{card['experiment']}` of the study `{card['study']}`: {card['task']}.",
        "",
        "## Intended use",
        "",
        card["intended_use"],
        "",
        "## Classes",
        "",
        ", ".join(f"`{name}`" for name in data["class_names"]),
        "",
        "## Data",
        "",
        f"Dataset `{data['dataset']}` (format `{data['format']}`), {data['image_size']} px.",
        "",
        "| split | images | " + " | ".join(data["class_names"]) + " |",
        "|---|---|" + "---|" * len(data["class_names"]),
    ]
    for split, counts in data["splits"].items():
        per_class = [str(counts.get("per_class", {}).get(name, "")) for name in data["class_names"]]
        lines.append(f"| {split} | {counts.get('total')} | " + " | ".join(per_class) + " |")
    lines += ["", "Sources (SHA-256 of their content):", ""]
    for split, source in data["sources"].items():
        lines.append(f"- {split}: `{source.get('file') or source.get('directory')}` `{source.get('sha256')}`")
    for drawn in ("validation_split", "pool_split"):
        if drawn in data:
            lines.append(f"- {drawn.replace('_', ' ')}: {json.dumps(data[drawn])}")
    weights = model["weights"] or "none (trained from scratch)"
    trainable = "+".join(model["trainable"]) if isinstance(model["trainable"], list) else model["trainable"]
    lines += [
        "",
        "## Model",
        "",
        f"- family: `{model['family']}`; pretrained weights: `{weights}`"
        + (f" ({json.dumps(model['weights_source'])})" if model["weights_source"] else ""),
        f"- trainable units: `{trainable}`; batch normalisation: `{model['batchnorm']}`",
        f"- parameters: {model['trainable_params']:,} trained of {model['total_params']:,}"
        if model["trainable_params"] is not None and model["total_params"] is not None
        else "- parameters: –",
        "",
        "## Metrics (at the kept epoch)",
        "",
        "| | " + " | ".join(SHOWN_METRICS) + " |",
        "|---|" + "---|" * len(SHOWN_METRICS),
    ]
    for split in ("train", "validation", "test"):
        values = card["metrics"][split]
        lines.append(f"| {split} | " + " | ".join(_shown(values.get(k), k) for k in SHOWN_METRICS) + " |")
    spread = card["seed_spread"]
    lines += [
        "",
        f"Over the experiment's seeds ({', '.join(map(str, spread['seeds']))}), mean ± standard deviation:",
        "",
    ]
    for column in ("validation_accuracy", "test_accuracy", "test_balanced_accuracy", "test_macro_f1"):
        found = spread.get(column) or {}
        if found.get("mean") is not None:
            mean, std = _shown(found["mean"], column), _shown(found["std"], column)
            lines.append(f"- {column.replace('_', ' ')}: {mean} ± {std}")
    lines += [
        "",
        "## Training",
        "",
        f"- epochs run: {training['epochs_run']} of {training['epochs_max']}; kept epoch: "
        f"{training['kept_epoch']}{' (stopped early)' if training['stopped_early'] else ''}",
        f"- training images: {training['train_images']}; class weights: {training['class_weight'] or 'none'}",
        f"- train time: {training['train_seconds'] or 0:.1f} s on {training['device']} "
        f"({training['backend']}, precision {training['precision']})",
        f"- versions: {', '.join(f'{k} {v}' for k, v in sorted((training['versions'] or {}).items()))}",
        "",
        "## Files",
        "",
        "| file | SHA-256 | checked against model.keras |",
        "|---|---|---|",
        *[
            f"| `{path}` | `{facts['sha256']}` | " + _export_check_text(facts) + " |"
            for path, facts in card["files"].items()
        ],
        "",
        "## Limitations",
        "",
        *[f"- {note}" for note in card["limitations"]],
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(card["settings"], indent=2, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)
