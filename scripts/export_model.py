import json
import os
from pathlib import Path

import numpy as np
from _workflow import start

# On the CPU, like the runtimes it is compared with: a GPU's TF32 matrix products alone differ from a
# CPU's by more than the float32 tolerance, and the job then needs no GPU beside a training.
os.environ["CUDA_VISIBLE_DEVICES"] = ""

log = start(snakemake)
from transfer_study.data.arrays import load_arrays
from transfer_study.export import (
    CHECK_IMAGES,
    ExportError,
    check_export,
    export_model,
    failed_check_message,
    without_export,
)
from transfer_study.training.evaluation import load_trained_model

name = snakemake.wildcards.format
hint = without_export(name, snakemake.wildcards.experiment)  # what an error says to do
model = load_trained_model(snakemake.input.model)
images = np.asarray(load_arrays(snakemake.input.data, prefixes=("x_test",))["x_test"][:CHECK_IMAGES])
try:
    messages = export_model(model, name, Path(snakemake.output.artifact))
    for line in messages:
        log.info("exporter: %s", line)
    check = check_export(
        model, name, Path(snakemake.output.artifact), images, snakemake.params.precision, messages
    )
except ExportError as error:
    raise ExportError(f"{error}; {hint}") from error
check |= {"experiment": snakemake.wildcards.experiment, "seed": int(snakemake.wildcards.seed)}
log.info("check: %s", json.dumps(check))
if not check["passed"]:
    raise ExportError(f"{failed_check_message(check)}; {hint}")
Path(snakemake.output.check).write_text(json.dumps(check, indent=2) + "\n")
