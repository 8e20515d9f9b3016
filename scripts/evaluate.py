import json

from _workflow import start

log = start(snakemake)
from transfer_study.arrays import load_arrays
from transfer_study.evaluation import evaluate_model

with open(snakemake.input.summary) as handle:
    summary = json.load(handle)
metrics = evaluate_model(
    snakemake.input.model,
    load_arrays(snakemake.input.data),
    snakemake.input.history,
    summary,
    batch_size=snakemake.params.batch_size,
)
with open(snakemake.output.metrics, "w") as handle:
    json.dump(metrics, handle, indent=2)
log.info("test accuracy %s", metrics["test"]["accuracy"])
