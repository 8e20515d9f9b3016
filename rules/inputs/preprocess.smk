# The input functions and constants of rules/preprocess.smk (Snakemake's linter keeps functions out of
# rule files); what several stages share is in rules/common.smk.


def dataset_archives(wildcards):
    splits = config["datasets"][wildcards.dataset]["splits"]
    return {split: source_path(source) for split, source in splits.items()}


def dataset_directories(wildcards):
    """{split key: folder} of the dataset's directory sources, which the script reads in place."""
    splits = config["datasets"][wildcards.dataset]["splits"]
    return {
        split: config["sources"][source]["directory"]
        for split, source in splits.items()
        if source in DIRECTORY_RECORDS
    }


def preprocess_code(wildcards):
    return registry_code(
        "preprocess", dataset_formats=[config["datasets"][wildcards.dataset]["format"]]
    )


def preprocessing_spec(wildcards):
    return study_config.canonical_json(
        study_config.preprocessing_spec(config, wildcards.dataset)
    )
