# The input functions and constants of rules/export.smk (Snakemake's linter keeps functions out of
# rule files); what several stages share is in rules/common.smk.


# The schema names the formats (tests/test_export.py: the exporter's too).
EXPORT_FORMATS = SCHEMA["$defs"]["export_formats"]["items"]["enum"]


def exported_formats(name):
    """The formats an experiment asks for, in the config's order."""
    return study_config.export_plan(experiment(name), SEEDS)[0]


EXPORTED = [name for name in EXPERIMENTS if exported_formats(name)]


def export_checks():
    """Each exported run's check.json, in the order of runs() (known failures left out)."""
    if not EXPORTED:
        return []
    seeds = {
        name: study_config.export_plan(experiment(name), SEEDS)[1] for name in EXPORTED
    }
    return [
        f"{run_dir(name, seed)}/export/check.json"
        for name, seed in runs(EXPORTED)
        if seed in seeds[name]
    ]


def export_precision(wildcards):
    return experiment(wildcards.experiment)["precision"]


def run_export_checks(wildcards):
    return [
        f"{run_dir(wildcards.experiment, wildcards.seed)}/export/{name}.check.json"
        for name in exported_formats(wildcards.experiment)
    ]
