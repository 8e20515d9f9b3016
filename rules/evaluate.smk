# Test-set metrics per job, and one table of every experiment and seed.


include: "inputs/evaluate.smk"


# Images per prediction batch in evaluation: throughput, and no effect on the numbers' meaning.
EVALUATION_BATCH = 256


rule evaluate:
    input:
        model=rules.train.output.model,
        history=rules.train.output.history,
        summary=rules.train.output.summary,
        data=experiment_data,
        code=experiment_code("evaluate"),
    output:
        metrics=f"{RUN}/metrics.json",
        predictions=f"{RUN}/predictions.csv",
    log:
        f"{LOGS}/evaluate/{{experiment}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/evaluate/{{experiment}}/seed{{seed}}.tsv"
    wildcard_constraints:
        experiment=any_of(EXPERIMENTS),
        seed=r"\d+",
    conda:
        "../envs/train.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=gpu_token,
        mem_mb=model_job_memory(trains=False, batch_size=EVALUATION_BATCH),
    params:
        batch_size=EVALUATION_BATCH,
    script:
        "../scripts/evaluate.py"


localrules:
    aggregate,


rule aggregate:
    input:
        metrics=run_files("metrics.json"),
        # The summary runs no format's or model's code; it reaches them only through the config module.
        code=registry_code("aggregate", dataset_formats=[], models=[]),
    output:
        table=f"{RESULTS}/summary.csv",
    log:
        f"{LOGS}/aggregate.log",
    conda:
        "../envs/report.yaml"
    params:
        experiments=experiments_table_spec,
    script:
        "../scripts/aggregate.py"
