# Offline stand-ins for the downloads: synthetic archives in the published formats, and backbones
# briefly pretrained on a synthetic task and saved in the layouts of the published weight files.


include: "inputs/demo.smk"


localrules:
    synthetic_archive,


rule synthetic_archive:
    input:
        code=synthetic_code,
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
        code=pretrain_code,
    output:
        f"{RESOURCES}/{{path}}",
    log:
        f"{LOGS}/pretrain/{{path}}.log",
    wildcard_constraints:
        path=source_paths_of_kind("pretrain"),
    # First: most of the demo's beans runs wait for the VGG16 stand-in.
    priority: 10
    conda:
        "../envs/train.yaml"
    threads: PRETRAIN_THREADS
    resources:
        gpu=gpu_token,
    params:
        spec=pretrain_spec,
    script:
        "../scripts/pretrain_backbone.py"
