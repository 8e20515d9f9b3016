# Archives -> one compressed .npz of uint8 images and integer labels per dataset and image size.


include: "inputs/preprocess.smk"


rule preprocess:
    input:
        unpack(dataset_archives),
        code=preprocess_code,
    output:
        arrays=dataset_file("{dataset}", "{size}", "npz"),
        stats=dataset_file("{dataset}", "{size}", "stats.json"),
    log:
        f"{LOGS}/preprocess/{{dataset}}-{{size}}px.log",
    benchmark:
        f"{BENCHMARKS}/preprocess/{{dataset}}-{{size}}px.tsv"
    wildcard_constraints:
        dataset=any_of(config["datasets"]),
        size=r"\d+",
    conda:
        "../envs/data.yaml"
    threads: DATA_THREADS
    resources:
        mem_mb=8000,
    params:
        dataset=preprocessing_spec,
        directories=dataset_directories,
    script:
        "../scripts/preprocess.py"
