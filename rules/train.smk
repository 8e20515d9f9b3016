# One job per experiment and seed. Its params hold only its own experiment, canonically serialised, so
# editing one experiment in the config retrains that experiment and nothing else.


include: "inputs/train.smk"


rule train:
    input:
        data=experiment_data,
        weights=experiment_weights,
        code=experiment_code("train"),
    output:
        model=f"{RUN}/model.keras",
        history=f"{RUN}/history.csv",
        summary=f"{RUN}/train.json",
    log:
        planning.train_log(RESULTS, "{experiment}", "{seed}"),
    benchmark:
        f"{BENCHMARKS}/train/{{experiment}}/seed{{seed}}.tsv"
    wildcard_constraints:
        experiment=any_of(EXPERIMENTS),
        seed=r"\d+",
    conda:
        "../envs/train.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=gpu_token,
        mem_mb=model_job_memory(trains=True),
    params:
        experiment=training_spec,
        # Resume state of a killed job; removed when the job finishes.
        backup=f"{RUN}/backup",
    script:
        "../scripts/train.py"
