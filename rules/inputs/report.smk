# The input functions and constants of rules/report.smk (Snakemake's linter keeps functions out of
# rule files); what several stages share is in rules/common.smk.


FIGURES = f"{REPORT}/figures"
TEMPLATES = "report/templates"
STRINGS = "report/strings.yaml"


def study_experiments(study):
    return [name for name in WRITTEN if experiment(name)["study"] == study]


def studies():
    return sorted({experiment(name)["study"] for name in WRITTEN})


def figure_groups():
    """(study, group) of every curves figure: experiments of one group share a figure."""
    return sorted(
        {(experiment(n)["study"], experiment(n)["group"] or n) for n in WRITTEN}
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


def study_predictions(wildcards):
    return [
        f"{run_dir(name, seed)}/predictions.csv"
        for name, seed in runs(study_experiments(wildcards.study))
    ]


def study_datasets(wildcards):
    """The preprocessed file of each dataset the study's experiments read (for the thumbnails)."""
    return sorted({data_file_of(name) for name in study_experiments(wildcards.study)})


def study_run_files(wildcards):
    """[experiment, seed, its predictions.csv, its dataset's file] of every run of the study."""
    return study_config.canonical_json(
        [
            [
                name,
                seed,
                f"{run_dir(name, seed)}/predictions.csv",
                data_file_of(name),
            ]
            for name, seed in runs(study_experiments(wildcards.study))
        ]
    )


def study_labels(wildcards):
    names = study_experiments(wildcards.study)
    return study_config.canonical_json(
        [[name, experiment(name)["label"]] for name in names]
    )


def figure_files(suffix):
    names = [f"curves-{study}-{group}" for study, group in figure_groups()]
    names += [
        f"{kind}-{study}"
        for kind in ("confusion", "reproduced", "mistakes")
        for study in studies()
    ]
    names += [f"grid-{grid}" for grid in GRIDS]
    return {name: f"{FIGURES}/{name}.{suffix}" for name in names}


def report_figures(wildcards):
    """The figures a format of the report shows: PNGs in the HTML, PDFs in the LaTeX."""
    return figure_files("png" if wildcards.kind == "html" else "pdf")


def grid_metrics(wildcards):
    """The metrics of every run of one grid's experiments."""
    names = list(GRIDS[wildcards.grid].points)
    return [f"{run_dir(name, seed)}/metrics.json" for name, seed in runs(names)]


def grid_spec(wildcards):
    return study_config.canonical_json(GRID_SPECS[wildcards.grid])


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


def model_card_spec(wildcards):
    """What the model cards say of the config: each experiment as it trains, and its weights' source."""
    weights = {
        name: {
            key: source[key]
            for key in ("url", "checksums", "pretrain", "path")
            if key in source
        }
        for name, source in config["sources"].items()
        if study_config.source_kind(source) in ("download", "pretrain")
    }
    return study_config.canonical_json(
        {
            "experiments": {name: experiment(name) for name in EXPERIMENTS},
            "weights": weights,
        }
    )


def report_spec(wildcards):
    """What the report says about the config: experiments as resolved, seeds, demo flag, language."""
    return study_config.canonical_json(
        {
            "experiments": {name: experiment(name) for name in EXPERIMENTS},
            "order": WRITTEN,
            # The data set formats name the data in the method's sentences.
            "datasets": {
                name: {"format": config["datasets"][name]["format"]}
                for name in sorted({experiment(n)["dataset"] for n in EXPERIMENTS})
            },
            "failed_runs": [list(run) for run in FAILED_RUNS],
            "seeds": SEEDS,
            "demo": config["demo"],
            # Only what the report's words depend on: whether the PDF is built does not change them.
            "report": {"language": config["report"]["language"]},
            "config_digest": PLAN.config_digest,
            "grids": GRID_SPECS,
        }
    )
