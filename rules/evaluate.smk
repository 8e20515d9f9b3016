# Test-set metrics per job, and one table of every experiment and seed.


rule evaluate:
    input:
        model=f"{RESULTS}/runs/{{experiment}}/seed{{seed}}/model.keras",
        history=f"{RESULTS}/runs/{{experiment}}/seed{{seed}}/history.csv",
        summary=f"{RESULTS}/runs/{{experiment}}/seed{{seed}}/train.json",
        data=experiment_data,
        code=package_sources("evaluation", "models", "weights", "arrays", "runtime"),
    output:
        metrics=f"{RESULTS}/runs/{{experiment}}/seed{{seed}}/metrics.json",
    wildcard_constraints:
        experiment=any_of(EXPERIMENTS),
        seed=r"\d+",
    params:
        batch_size=256,
    log:
        f"{LOGS}/evaluate/{{experiment}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/evaluate/{{experiment}}/seed{{seed}}.tsv"
    threads: 4
    resources:
        gpu=1,
        mem_mb=8000,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/evaluate.py"


rule aggregate:
    input:
        metrics=metrics_files(),
        code=package_sources("evaluation", "config"),
    output:
        table=f"{RESULTS}/summary.csv",
    params:
        experiments=experiments_table_spec,
    log:
        f"{LOGS}/aggregate.log",
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/aggregate.py"
