# Every file from outside is fetched here, verified against the checksum in the config, and written to
# a fixed path below `resources` that a user without internet may also fill by hand.


include: "inputs/download.smk"


localrules:
    download,


rule download:
    output:
        f"{RESOURCES}/{{path}}",
    log:
        f"{LOGS}/download/{{path}}.log",
    wildcard_constraints:
        path=source_paths_of_kind("download"),
    conda:
        "../envs/data.yaml"
    params:
        source=download_spec,
    script:
        "../scripts/download.py"
