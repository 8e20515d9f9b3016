# Offline stand-ins for the downloads: synthetic archives in the published formats, and backbones
# briefly pretrained on a synthetic task and saved in the layouts of the published weight files.


rule synthetic_archive:
    output:
        f"{RESOURCES}/{{path}}",
    wildcard_constraints:
        path=source_paths_of_kind("synthetic"),
    input:
        code=package_sources("demo"),
    params:
        spec=synthetic_spec,
    log:
        f"{LOGS}/synthetic/{{path}}.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/synthetic_archive.py"


rule pretrain_backbone:
    output:
        f"{RESOURCES}/{{path}}",
    wildcard_constraints:
        path=source_paths_of_kind("pretrain"),
    input:
        code=package_sources("demo", "pretrain", "models", "weights", "training", "runtime"),
    params:
        spec=pretrain_spec,
    log:
        f"{LOGS}/pretrain/{{path}}.log",
    threads: 2
    resources:
        gpu=1,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/pretrain_backbone.py"
