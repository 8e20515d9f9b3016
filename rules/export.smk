# Exports of trained runs for other runtimes (transfer_study.export): one job per run and format, each
# checked against the Keras model in the format's own runtime; then one check.json per run.


include: "inputs/export.smk"


rule export_model:
    input:
        model=rules.train.output.model,
        data=experiment_data,
        code=experiment_code("export_model"),
    output:
        artifact=directory(f"{RUN}/export/{{format}}"),
        check=f"{RUN}/export/{{format}}.check.json",
    log:
        f"{LOGS}/export/{{experiment}}/seed{{seed}}/{{format}}.log",
    benchmark:
        f"{BENCHMARKS}/export/{{experiment}}/seed{{seed}}/{{format}}.tsv"
    wildcard_constraints:
        experiment=any_of(EXPORTED),
        seed=r"\d+",
        format=any_of(EXPORT_FORMATS),
    conda:
        "../envs/train.yaml"
    # On the CPU (scripts/export_model.py): no GPU token.
    threads: MODEL_THREADS
    resources:
        mem_mb=model_job_memory(exports=True),
    params:
        precision=export_precision,
    script:
        "../scripts/export_model.py"


localrules:
    export_checks,


rule export_checks:
    input:
        checks=run_export_checks,
        code=script_code("export_checks"),
    output:
        f"{RUN}/export/check.json",
    log:
        f"{LOGS}/export/{{experiment}}/seed{{seed}}/check.log",
    wildcard_constraints:
        experiment=any_of(EXPORTED),
        seed=r"\d+",
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/export_checks.py"
