# Offline stand-ins for the downloads: synthetic archives in the published formats, and backbones
# briefly pretrained on a synthetic task and saved in the layouts of the published weight files.


localrules:
    synthetic_archive,


rule synthetic_archive:
    input:
        code=package_sources("demo"),
    output:
        f"{RESOURCES}/{{path}}",
    log:
        f"{LOGS}/synthetic/{{path}}.log",
    wildcard_constraints:
        path=source_paths_of_kind("synthetic"),
    conda:
        "../envs/data.yaml"
    params:
        spec=synthetic_spec,
    script:
        "../scripts/synthetic_archive.py"


rule pretrain_backbone:
    input:
        code=package_sources(
            "demo",
            "data",
            "archives",
            "download",
            "pretrain",
            "models",
            "weights",
            "training",
            "history",
            "runtime",
        ),
    output:
        f"{RESOURCES}/{{path}}",
    log:
        f"{LOGS}/pretrain/{{path}}.log",
    wildcard_constraints:
        path=source_paths_of_kind("pretrain"),
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        spec=pretrain_spec,
    script:
        "../scripts/pretrain_backbone.py"
