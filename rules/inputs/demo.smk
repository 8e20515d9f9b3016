# The input functions and constants of rules/demo.smk (Snakemake's linter keeps functions out of
# rule files); what several stages share is in rules/common.smk.


def synthetic_code(wildcards):
    source = config["sources"][source_named_by_path(wildcards)]
    return registry_code(
        "synthetic_archive", dataset_formats=[source["synthetic"]["format"]]
    )


def synthetic_spec(wildcards):
    return study_config.canonical_json(
        config["sources"][source_named_by_path(wildcards)]["synthetic"]
    )


def pretrain_code(wildcards):
    source = config["sources"][source_named_by_path(wildcards)]
    return registry_code("pretrain_backbone", models=[source["pretrain"]["model"]])


def pretrain_spec(wildcards):
    return study_config.canonical_json(
        config["sources"][source_named_by_path(wildcards)]["pretrain"]
    )
