"""Config helpers shared by the Snakefile and the scripts.

The schema (config/schema.yaml) checks types and fills defaults; this module checks what a schema cannot
(cross-references between sections) and turns an experiment into the exact, canonical dict a training
job depends on, so that Snakemake's params trigger reruns a job when, and only when, that dict changes.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path, PurePosixPath, PureWindowsPath

from transfer_study.data.formats import registry as formats
from transfer_study.data.formats.cifar10_tar import CIFAR10_TRAIN_IMAGES_PER_CLASS  # noqa: F401 - benchmarks
from transfer_study.digests import canonical_json, digest  # noqa: F401 - used by the rules and the report
from transfer_study.models import registry as model_registry
from transfer_study.problems import Problem, at

# Keys that only name or describe an experiment in the report: they never reach the training job, so
# renaming a label does not retrain anything.
PRESENTATION_KEYS = ("study", "label", "group", "description")
# Keys of what is done with a trained model: they reach their own jobs, never the training job's.
AFTER_TRAINING_KEYS = ("export",)


class ConfigError(ValueError):
    """A config that passed the schema but does not hold together: one line per problem in `problems`,
    each starting with the key it is about (the message lists them all under a heading)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems) if problems is not None else [message]


# Top-level keys (and report.pdf) that change how a run goes, never what it computes or reports.
RUN_SETTINGS = ("require_gpu", "backup_every_seconds")


def without_run_settings(config: dict) -> dict:
    """The config without RUN_SETTINGS and report.pdf: what the results and the report depend on."""
    kept = {key: value for key, value in config.items() if key not in RUN_SETTINGS}
    if isinstance(kept.get("report"), dict):
        kept["report"] = {key: value for key, value in kept["report"].items() if key != "pdf"}
    return kept


def source_kind(source: dict) -> str:
    for kind in ("url", "synthetic", "pretrain", "directory"):
        if kind in source:
            return "download" if kind == "url" else kind
    raise ConfigError(f"source {source!r} has neither url, synthetic, pretrain nor directory")


def _choices(values) -> str:
    return ", ".join(sorted(values)) or "(none defined)"


def _pretrained_model(source: dict) -> str | None:
    return source.get("pretrain", {}).get("model")


def schema_errors(config: dict, schema: dict) -> list[Problem]:
    """Every schema violation at its key path, with the allowed keys or values."""
    import jsonschema

    validator = strict_validator(jsonschema)(schema)
    messages = []
    for error in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        message = error.message
        if error.validator == "type" and isinstance(error.instance, float):
            message = _float_message(error.instance, error.validator_value)
        elif error.validator == "additionalProperties" and isinstance(error.schema.get("properties"), dict):
            message += f"; allowed keys: {_choices(error.schema['properties'])}"
        elif error.validator == "maxLength" and error.validator_value == 255:
            # Experiment and grid names become folder names, which most file systems cap at 255 bytes.
            message = (
                f"the name {error.instance[:40]!r}... has {len(error.instance)} characters, more than a "
                "folder name may have (255); shorten it"
            )
        elif error.validator in ("oneOf", "anyOf"):
            options = [option.get("description") or option.get("enum") or option.get("type")
                       for option in error.validator_value]  # fmt: skip
            message = f"{error.instance!r} is none of the allowed forms: {options}"
        messages.append(at(*error.absolute_path, message=message))
    return messages


def strict_validator(jsonschema):
    """JSON Schema's types, stricter where a float would slip through: an integer is written as one
    (2.0 is not 2: counts, sizes and seeds slice arrays), and a number is finite (no .nan, no .inf)."""

    def integer(checker, value):
        return isinstance(value, int) and not isinstance(value, bool)

    def number(checker, value):
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

    base = jsonschema.Draft202012Validator
    types = base.TYPE_CHECKER.redefine_many({"integer": integer, "number": number})
    return jsonschema.validators.extend(base, type_checker=types)


def _float_message(value: float, wanted) -> str:
    if not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if "integer" in (wanted if isinstance(wanted, list) else [wanted]):
        if value.is_integer():
            return f"{value!r} is not a whole number written as one (write {int(value)})"
        return f"{value!r} is not a whole number"
    return f"{value!r} is not of type {wanted!r}"


def train_images_before_run(config: dict, name: str) -> int | None:
    """How many training images dataset `name` will have, where its format knows that before any job
    runs (from a synthetic source's spec, the format itself, `expected_images` or a directory's files);
    None otherwise."""
    dataset = config["datasets"][name]
    return formats.get(dataset["format"]).train_images(config, name)


def dataset_class_names(config: dict, name: str) -> list[str] | None:
    """The dataset's class names as known at planning: listed in the config, or (for a format that can)
    read from its sources; None where neither is possible (check_config reports that)."""
    dataset_format = formats.get(config["datasets"][name]["format"])
    if dataset_format.class_names is None:
        return list(config["datasets"][name].get("class_names") or []) or None
    return dataset_format.class_names(config, name)


def check_config(config: dict) -> None:
    """Raise ConfigError naming the key path and the allowed values for every dangling reference."""
    errors = _folder_errors(config)
    sources = config["sources"]
    datasets = config["datasets"]
    paths = {}
    folders = {}
    for name, source in sources.items():
        errors += _source_errors(name, source)
        directory = source.get("directory")
        if isinstance(directory, str) and Path(directory).is_dir():
            # `photos`, `./photos/` and a link to it are one folder: read twice, its images would be
            # in two splits at once.
            real = Path(directory).resolve()
            if real in folders:
                errors.append(
                    at(
                        "sources",
                        name,
                        "directory",
                        message=(
                            f"{directory!r} is the folder of sources.{folders[real][0]} "
                            f"({folders[real][1]!r}) under another spelling; every source needs its own "
                            "folder"
                        ),
                    )
                )
            folders.setdefault(real, (name, directory))
        if "path" not in source:
            continue
        relative = PurePosixPath(source["path"].replace("\\", "/"))
        if relative.is_absolute() or ".." in relative.parts or PureWindowsPath(source["path"]).drive:
            errors.append(
                at(
                    "sources",
                    name,
                    "path",
                    message=(
                        f"{source['path']!r} leaves the resources folder; give a path relative to it, "
                        "without '..'"
                    ),
                )
            )
        if source["path"] in paths:
            errors.append(
                at(
                    "sources",
                    name,
                    "path",
                    message=(
                        f"{source['path']!r} is also the path of sources.{paths[source['path']]}; every "
                        "source "
                        "needs its own file"
                    ),
                )
            )
        paths[source["path"]] = name
    for name, dataset in datasets.items():
        errors += _dataset_format_errors(config, name)
        split_sources = list(dataset["splits"].values())
        for source in sorted({source for source in split_sources if split_sources.count(source) > 1}):
            sharing = [split for split, used in dataset["splits"].items() if used == source]
            errors.append(
                at(
                    "datasets",
                    name,
                    "splits",
                    message=(
                        f"{', '.join(sharing)} all read source {source!r}; every split needs its own "
                        "archive, "
                        "or the model is tested on images it trained on"
                    ),
                )
            )
        for split, source in dataset["splits"].items():
            if source not in sources:
                errors.append(
                    at(
                        "datasets",
                        name,
                        "splits",
                        split,
                        message=(f"unknown source {source!r}; defined sources: {_choices(sources)}"),
                    )
                )
    for name, experiment in config["experiments"].items():
        where = ("experiments", name)
        if experiment["dataset"] not in datasets:
            errors.append(
                at(
                    *where,
                    "dataset",
                    message=(
                        f"unknown dataset {experiment['dataset']!r}; defined datasets: {_choices(datasets)}"
                    ),
                )
            )
        if experiment["model"] not in model_registry.FAMILIES:
            errors.append(at(*where, "model", message=_unknown_model(experiment["model"])))
        else:
            errors += _model_errors(where, experiment, config)
        errors += _class_weight_errors(where, experiment, config)
    for name, source in sources.items():
        model = _pretrained_model(source)
        if model is not None and model not in model_registry.FAMILIES:
            errors.append(at("sources", name, "pretrain", "model", message=_unknown_model(model)))
    errors += _batch_size_errors(config)
    errors += _prediction_errors(config)
    errors += _export_errors(config)
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(map(str, errors)), errors)


def _folder_errors(config: dict) -> list[Problem]:
    """`results` and `resources` each name a folder of their own; an empty one would put every output
    at the file system's root (`/runs/...`), which a container's root user may write to."""
    errors = []
    for key, default in (("results", "results"), ("resources", "resources")):
        folder = config.get(key, default)
        if not isinstance(folder, str) or not folder.strip():
            errors.append(at(key, message=f"{folder!r} names no folder; give one, such as {default!r}"))
            continue
        resolved = Path(folder).expanduser().resolve()
        if resolved == Path(resolved.anchor):
            errors.append(
                at(
                    key,
                    message=(
                        f"{folder!r} is the file system's root; give a folder of its own, such as {default!r}"
                    ),
                )
            )
    return errors


def _class_weight_errors(where: tuple, experiment: dict, config: dict) -> list[Problem]:
    """A {class: weight} mapping names classes of the experiment's dataset (where they are known)."""
    weights = experiment.get("class_weight")
    if not isinstance(weights, dict) or experiment["dataset"] not in config["datasets"]:
        return []
    if not _dataset_is_sound(config, experiment["dataset"]):
        return []
    classes = dataset_class_names(config, experiment["dataset"])
    unknown = sorted(set(weights) - set(classes or weights))
    if not unknown:
        return []
    return [
        at(
            *where,
            "class_weight",
            message=(
                f"{', '.join(map(repr, unknown))} is no class of dataset {experiment['dataset']} "
                f"({_choices(classes)}); name its classes, or write auto"
            ),
        )
    ]


def _prediction_errors(config: dict) -> list[Problem]:
    """Each prediction set names a source, an experiment (a grid's included) and one of the seeds."""
    errors = []
    for name, spec in (config.get("predict") or {}).items():
        where = ("predict", name)
        if spec["images"] not in config["sources"]:
            errors.append(
                at(
                    *where,
                    "images",
                    message=(
                        f"unknown source {spec['images']!r}; defined sources: {_choices(config['sources'])}"
                    ),
                )
            )
        elif config["sources"][spec["images"]].get("pretrain"):
            errors.append(
                at(*where, "images", message=f"source {spec['images']!r} is a pretrained model, not images")
            )
        if spec["experiment"] not in config["experiments"]:
            errors.append(at(*where, "experiment", message=f"unknown experiment {spec['experiment']!r}"))
        if "seed" in spec and spec["seed"] not in config["seeds"]:
            seeds = ", ".join(map(str, config["seeds"]))
            errors.append(at(*where, "seed", message=f"{spec['seed']} is not one of the seeds ({seeds})"))
    return errors


def export_plan(experiment: dict, seeds: list[int]) -> tuple[list[str], list[int]]:
    """The formats an experiment is exported to, and the seeds whose runs are (all, for a list)."""
    export = experiment.get("export") or []
    if isinstance(export, dict):
        return list(export["formats"]), [seed for seed in seeds if seed in export["seeds"]]
    return list(export), list(seeds) if export else []


def _export_errors(config: dict) -> list[Problem]:
    """An export's seeds are seeds the config trains."""
    errors = []
    for name, experiment in config["experiments"].items():
        export = experiment.get("export")
        if isinstance(export, dict):
            unknown = [seed for seed in export["seeds"] if seed not in config["seeds"]]
            if unknown:
                seeds = ", ".join(map(str, config["seeds"]))
                errors.append(
                    at(
                        "experiments",
                        name,
                        "export",
                        "seeds",
                        message=(
                            f"{', '.join(map(str, unknown))} {'is' if len(unknown) == 1 else 'are'} not "
                            "among "
                            f"the seeds trained ({seeds})"
                        ),
                    )
                )
    return errors


def _unknown_model(name: str) -> str:
    return f"unknown model {name!r}; registered models: {_choices(model_registry.names())}"


def _model_errors(where: tuple, experiment: dict, config: dict) -> list[Problem]:
    """The experiment's weights, image size and trainable units, against its model family."""
    errors = []
    family = model_registry.get(experiment["model"])
    sources, datasets = config["sources"], config["datasets"]
    weights = experiment.get("weights")
    if weights is not None and weights not in sources:
        errors.append(
            at(
                *where,
                "weights",
                message=(
                    f"unknown source {weights!r}; defined sources: {_choices(sources)} (or null to train "
                    "from scratch)"
                ),
            )
        )
    elif weights is not None and _pretrained_model(sources[weights]) not in (None, family.name):
        errors.append(
            at(
                *where,
                "weights",
                message=(
                    f"source {weights!r} holds {_pretrained_model(sources[weights])} weights, not "
                    f"{family.name}"
                ),
            )
        )
    size = experiment.get("image_size") or datasets.get(experiment["dataset"], {}).get("image_size")
    if size is not None and size < family.min_image_size:
        errors.append(
            at(
                *where,
                "image_size",
                message=(
                    f"{family.name} takes images of at least {family.min_image_size} x "
                    f"{family.min_image_size} "
                    f"px; this experiment (or its dataset) asks for {size}"
                ),
            )
        )
    trainable = experiment["trainable"]
    if isinstance(trainable, list):
        unknown = [unit for unit in trainable if unit not in family.units]
        if unknown:
            errors.append(
                at(
                    *where,
                    "trainable",
                    message=(
                        f"unknown {family.name} unit(s) {', '.join(unknown)}; valid: none, all, or a list of "
                        f"{', '.join(family.units)}"
                    ),
                )
            )
    return errors


def _batch_size_errors(config: dict) -> list[Problem]:
    errors = []
    sound = {name for name in config["datasets"] if _dataset_is_sound(config, name)}
    for name, experiment in config["experiments"].items():
        if experiment["dataset"] not in sound or "batch_size" not in experiment:
            continue  # a dangling dataset, format or source, reported by check_config
        available = train_images_before_run(config, experiment["dataset"])
        if available is not None and experiment["batch_size"] > available:
            errors.append(
                at(
                    "experiments",
                    name,
                    "batch_size",
                    message=(
                        f"{experiment['batch_size']} is more than the {available} training images of dataset "
                        f"{experiment['dataset']!r}; choose at most {available}"
                    ),
                )
            )
    return errors


def _source_errors(name: str, source: dict) -> list[Problem]:
    errors = []
    synthetic_format = source.get("synthetic", {}).get("format")
    writers = [n for n in formats.names() if formats.get(n).write_synthetic is not None]
    if synthetic_format is not None and synthetic_format not in writers:
        errors.append(
            at(
                "sources",
                name,
                "synthetic",
                "format",
                message=(
                    f"no synthetic source of format {synthetic_format!r}; formats with one: "
                    f"{_choices(writers)}"
                ),
            )
        )
    directory = source.get("directory")
    if directory is not None and not Path(directory).is_dir():
        where = "" if Path(directory).is_absolute() else f" (relative to the working directory {Path.cwd()})"
        errors.append(
            at(
                "sources",
                name,
                "directory",
                message=(f"{directory!r} is not a directory{where}; give the folder that holds the images"),
            )
        )
    return errors


def _dataset_format_errors(config: dict, name: str) -> list[Problem]:
    """The dataset's format is registered, its split keys are one of the format's sets, a directory
    source feeds only a format that reads folders, and whatever the format itself checks."""
    dataset = config["datasets"][name]
    if dataset["format"] not in formats.names():
        return [
            at(
                "datasets",
                name,
                "format",
                message=(
                    f"unknown dataset format {dataset['format']!r}; registered formats: "
                    f"{_choices(formats.names())}"
                ),
            )
        ]
    dataset_format = formats.get(dataset["format"])
    if tuple(sorted(dataset["splits"])) not in {tuple(sorted(keys)) for keys in dataset_format.split_keys}:
        return [
            at(
                "datasets",
                name,
                "splits",
                message=(
                    f"format {dataset['format']} needs exactly the keys "
                    f"{formats.split_key_choices(dataset_format)}; "
                    f"got {_choices(dataset['splits'])}"
                ),
            )
        ]
    errors = []
    for split, source in dataset["splits"].items():
        if "directory" in config["sources"].get(source, {}) and not dataset_format.reads_directories:
            errors.append(
                at(
                    "datasets",
                    name,
                    "splits",
                    split,
                    message=(
                        f"source {source!r} is a directory, and format {dataset['format']} reads files; "
                        "formats "
                        "that read directories: "
                        f"{_choices(n for n in formats.names() if formats.get(n).reads_directories)}"
                    ),
                )
            )
    sources_defined = all(source in config["sources"] for source in dataset["splits"].values())
    if dataset_format.config_errors is not None and sources_defined and not errors:
        errors += dataset_format.config_errors(config, name)
    return errors


def _dataset_is_sound(config: dict, name: str) -> bool:
    dataset = config["datasets"][name]
    return all(source in config["sources"] for source in dataset["splits"].values()) and not (
        _dataset_format_errors(config, name)
    )


def resolved_experiment(config: dict, name: str) -> dict:
    """The experiment as it trains: its own keys plus the image size inherited from its dataset."""
    experiment = copy.deepcopy(config["experiments"][name])
    dataset = config["datasets"][experiment["dataset"]]
    experiment.setdefault("image_size", dataset["image_size"])
    experiment.setdefault("label", name)
    return experiment


def training_spec(config: dict, name: str) -> dict:
    """Everything a training job of this experiment depends on, and nothing else."""
    experiment = resolved_experiment(config, name)
    spec = {
        key: value for key, value in experiment.items() if key not in PRESENTATION_KEYS + AFTER_TRAINING_KEYS
    }
    spec["num_classes"] = len(dataset_class_names(config, experiment["dataset"]))
    return spec


def preprocessing_spec(config: dict, name: str) -> dict:
    """What preprocessing one dataset depends on besides its archives (which are inputs)."""
    dataset = config["datasets"][name]
    spec = {key: value for key, value in dataset.items() if key not in ("splits", "image_size")}
    if len(formats.get(dataset["format"]).split_keys) > 1:
        # The sources are inputs, but which split key names them (a pool or a presplit folder, say)
        # changes what is read from them.
        spec["split_keys"] = sorted(dataset["splits"])
    return spec
