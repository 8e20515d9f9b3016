# Helpers shared by all the .smk files (config validation, paths, the params each job depends on).
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
import yaml
from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from transfer_study import config as study_config  # noqa: E402
from transfer_study.failures import known_failure  # noqa: E402


def config_error(lines):
    """One error for every problem found, naming the config files, before any job is planned."""
    files = ", ".join(map(str, workflow.configfiles)) or "none"
    return WorkflowError(
        "invalid config:\n  " + "\n  ".join(lines) + f"\n(config files: {files})"
    )


# Every schema violation first, each with its key path and the allowed keys or values; then
# Snakemake's own validation fills the defaults in (it would crash on a value of the wrong type).
with open(Path(workflow.basedir) / "config/schema.yaml") as handle:
    problems = study_config.schema_errors(config, yaml.safe_load(handle))
if problems:
    raise config_error(problems)
validate(config, schema="../config/schema.yaml", set_default=True)
try:
    study_config.check_config(config)
except study_config.ConfigError as error:
    raise config_error([line.strip() for line in str(error).splitlines()[1:]])


RESULTS = config["results"]
RESOURCES = config["resources"]
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
# Relative to the working folder, so that moving the checkout does not look like new inputs.
PACKAGE = Path(os.path.relpath(Path(workflow.basedir) / "src" / "transfer_study"))
SEEDS = config["seeds"]
EXPERIMENTS = list(config["experiments"])


def any_of(values):
    """A wildcard constraint matching exactly these strings (or nothing for an empty list)."""
    return "|".join(re.escape(str(value)) for value in values) or "(?!)"


def package_sources(*modules):
    """The package modules a job runs, as inputs: editing one reruns exactly the jobs that use it."""
    return [str(PACKAGE / f"{module}.py") for module in ("__init__", "files", *modules)]


# --- sources ---------------------------------------------------------------------------------------


def source_path(name):
    return f"{RESOURCES}/{config['sources'][name]['path']}"


def sources_of_kind(kind):
    return [
        name
        for name, source in config["sources"].items()
        if study_config.source_kind(source) == kind
    ]


def source_paths_of_kind(kind):
    return any_of(config["sources"][name]["path"] for name in sources_of_kind(kind))


def source_named_by_path(wildcards):
    """The source whose file a download or generator job writes."""
    for name, source in config["sources"].items():
        if source["path"] == wildcards.path:
            return name
    raise WorkflowError(f"no source has path {wildcards.path!r}")


def download_spec(wildcards):
    source = config["sources"][source_named_by_path(wildcards)]
    return {key: source.get(key) for key in ("url", "checksums", "size")}


def synthetic_spec(wildcards):
    return study_config.canonical_json(
        config["sources"][source_named_by_path(wildcards)]["synthetic"]
    )


def pretrain_spec(wildcards):
    return study_config.canonical_json(
        config["sources"][source_named_by_path(wildcards)]["pretrain"]
    )


# --- datasets --------------------------------------------------------------------------------------


def dataset_file(dataset, size, suffix):
    return f"{RESULTS}/data/{dataset}-{size}px.{suffix}"


def dataset_archives(wildcards):
    splits = config["datasets"][wildcards.dataset]["splits"]
    return {split: source_path(source) for split, source in splits.items()}


def preprocessing_spec(wildcards):
    return study_config.canonical_json(
        study_config.preprocessing_spec(config, wildcards.dataset)
    )


# --- experiments -----------------------------------------------------------------------------------


def experiment(name):
    return study_config.resolved_experiment(config, name)


def run_dir(name, seed):
    return f"{RESULTS}/runs/{name}/seed{seed}"


def training_spec(wildcards):
    return study_config.canonical_json(
        study_config.training_spec(config, wildcards.experiment)
    )


def experiment_data(wildcards):
    spec = experiment(wildcards.experiment)
    return dataset_file(spec["dataset"], spec["image_size"], "npz")


def experiment_weights(wildcards):
    name = experiment(wildcards.experiment)["weights"]
    return [source_path(name)] if name else []


def failed_before(name, seed):
    """A run whose last training attempt failed with this very experiment (see failures.py)."""
    spec = study_config.training_spec(config, name)
    return known_failure(
        f"{LOGS}/train/{name}/seed{seed}.log",
        f"{run_dir(name, seed)}/model.keras",
        spec,
    )


# Runs that failed before with an unchanged experiment are reported as failed, not tried again.
FAILED_RUNS = [(n, s) for n in EXPERIMENTS for s in SEEDS if failed_before(n, s)]
for name, seed in FAILED_RUNS:
    print(
        f"Not retried: {name} seed {seed} failed with this config before (see "
        f"{LOGS}/train/{name}/seed{seed}.log); the report lists it as failed. Change the "
        "experiment or delete that log to train it again.",
        file=sys.stderr,
    )


def runs(names=None):
    """(experiment, seed) of every run to train and report, known failures left out."""
    return [
        (name, seed)
        for name in names or EXPERIMENTS
        for seed in SEEDS
        if (name, seed) not in FAILED_RUNS
    ]


def metrics_files():
    return [f"{run_dir(name, seed)}/metrics.json" for name, seed in runs()]


def final_outputs():
    return [
        f"{RESULTS}/summary.csv",
        f"{RESULTS}/report/report.html",
        f"{RESULTS}/report/report.pdf",
    ]


def experiments_table_spec(wildcards):
    """What the summary table shows of the config: every experiment as resolved, and the seeds."""
    return study_config.canonical_json(
        {
            "seeds": SEEDS,
            "experiments": {name: experiment(name) for name in EXPERIMENTS},
        }
    )


# ---- report: figures and the report's inputs ----
REPORT = f"{RESULTS}/report"
FIGURES = f"{REPORT}/figures"
TEMPLATES = "report/templates"
STRINGS = "report/strings.yaml"


def study_experiments(study):
    return [name for name in EXPERIMENTS if experiment(name)["study"] == study]


def studies():
    return sorted({experiment(name)["study"] for name in EXPERIMENTS})


def figure_groups():
    """(study, group) of every curves figure: experiments of one group share a figure."""
    return sorted(
        {(experiment(n)["study"], experiment(n)["group"] or n) for n in EXPERIMENTS}
    )


def group_members(study, group):
    return [
        n for n in study_experiments(study) if (experiment(n)["group"] or n) == group
    ]


def group_histories(wildcards):
    members = group_members(wildcards.study, wildcards.group)
    return {
        f"{name}@{seed}": f"{run_dir(name, seed)}/history.csv"
        for name, seed in runs(members)
    }


def group_labels(wildcards):
    """[name, label] pairs in config order (a list, so the canonical JSON keeps the order)."""
    members = group_members(wildcards.study, wildcards.group)
    return study_config.canonical_json(
        [[name, experiment(name)["label"]] for name in members]
    )


def study_metrics(wildcards):
    return [
        f"{run_dir(name, seed)}/metrics.json"
        for name, seed in runs(study_experiments(wildcards.study))
    ]


def study_labels(wildcards):
    names = study_experiments(wildcards.study)
    return study_config.canonical_json(
        [[name, experiment(name)["label"]] for name in names]
    )


def figure_files(suffix):
    names = [f"curves-{study}-{group}" for study, group in figure_groups()]
    names += [
        f"{kind}-{study}" for kind in ("confusion", "reproduced") for study in studies()
    ]
    return {name: f"{FIGURES}/{name}.{suffix}" for name in names}


def dataset_stats():
    sizes = {
        (experiment(n)["dataset"], experiment(n)["image_size"]) for n in EXPERIMENTS
    }
    return [
        dataset_file(dataset, size, "stats.json") for dataset, size in sorted(sizes)
    ]


def training_benchmarks():
    return [
        f"{BENCHMARKS}/{rule}/{name}/seed{seed}.tsv"
        for rule in ("train", "evaluate")
        for name, seed in runs()
    ]


def report_spec(wildcards):
    """What the report says about the config: experiments as resolved, seeds, demo flag, language."""
    return study_config.canonical_json(
        {
            "experiments": {name: experiment(name) for name in EXPERIMENTS},
            "order": list(EXPERIMENTS),
            "failed_runs": [list(run) for run in FAILED_RUNS],
            "seeds": SEEDS,
            "demo": config["demo"],
            "report": config["report"],
            "config_digest": study_config.digest(config),
        }
    )
