# The input functions and constants of rules/download.smk (Snakemake's linter keeps functions out of
# rule files); what several stages share is in rules/common.smk.


def download_spec(wildcards):
    source = config["sources"][source_named_by_path(wildcards)]
    return {key: source.get(key) for key in ("url", "checksums", "size")}
