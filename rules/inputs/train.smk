# The input functions and constants of rules/train.smk (Snakemake's linter keeps functions out of
# rule files); what several stages share is in rules/common.smk.


def training_spec(wildcards):
    return study_config.canonical_json(
        study_config.training_spec(config, wildcards.experiment)
    )


def experiment_weights(wildcards):
    name = experiment(wildcards.experiment)["weights"]
    return [source_path(name)] if name else []
