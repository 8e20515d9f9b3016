# Configured prediction sets: a source's images classified by one trained run (transfer_study.predict).


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
    params:
        images=prediction_images,
        top_k=lambda wildcards: config["predict"][wildcards.name]["top_k"],
    script:
        "../scripts/predict.py"
