import json
import time

from _workflow import start

log = start(snakemake)
started = time.perf_counter()
from transfer_study.data.arrays import load_arrays
from transfer_study.training.evaluation import evaluate_model

imported = time.perf_counter()
with open(snakemake.input.summary) as handle:
    summary = json.load(handle)
metrics = evaluate_model(
    snakemake.input.model,
    load_arrays(snakemake.input.data),
    snakemake.input.history,
    summary,
    batch_size=snakemake.params.batch_size,
    predictions_path=snakemake.output.predictions,
)
with open(snakemake.output.metrics, "w") as handle:
    json.dump(metrics, handle, indent=2)
log.info(
    "test accuracy %s; imports %.1f s, evaluation %.1f s",
    metrics["test"]["accuracy"],
    imported - started,
    time.perf_counter() - imported,
)
