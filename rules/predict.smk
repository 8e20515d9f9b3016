# Configured prediction sets: a source's images classified by one trained run (transfer_study.predict).


include: "inputs/predict.smk"


# Images per batch: transfer_study.predict's default.
PREDICTION_BATCH = 64


rule predict:
    input:
        unpack(prediction_inputs),
        code=script_code("predict"),
    output:
        f"{RESULTS}/predictions/{{name}}.csv",
    log:
        f"{LOGS}/predict/{{name}}.log",
    wildcard_constraints:
        name=any_of(config["predict"]),
    conda:
        "../envs/train.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=gpu_token,
        mem_mb=model_job_memory(
            batch_size=PREDICTION_BATCH,
            experiment_of=lambda wildcards: prediction_spec(wildcards.name)[0],
        ),
    params:
        images=prediction_images,
        top_k=lambda wildcards: config["predict"][wildcards.name]["top_k"],
    script:
        "../scripts/predict.py"
