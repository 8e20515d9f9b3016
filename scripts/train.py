import json
import time

from _workflow import start

log = start(snakemake)
started = time.perf_counter()
from transfer_study.data.arrays import load_arrays
from transfer_study.failures import failure_line, raise_if_injected
from transfer_study.training.accelerator import require_accelerator
from transfer_study.training.history import write_history
from transfer_study.training.loop import save_model_atomically, train
from transfer_study.training.resume import finish, input_stamps
from transfer_study.training.runtime import device_name, library_versions, make_deterministic

imported = time.perf_counter()
if snakemake.config["require_gpu"]:  # before the try: a node without a GPU is no failed experiment
    require_accelerator(device_name(), "on this node")
experiment = json.loads(snakemake.params.experiment)
seed = int(snakemake.wildcards.seed)
make_deterministic(seed)
weights = snakemake.input.weights[0] if snakemake.input.weights else None
# How often to back up for a resume is read from the config, not params: it changes no result.
backup_every = snakemake.config["backup_every_seconds"]
try:
    raise_if_injected(experiment)
    arrays = load_arrays(snakemake.input.data, prefixes=("x_", "y_"))
    loaded = time.perf_counter()
    model, history, summary = train(
        experiment, seed, arrays, weights, snakemake.params.backup, log.info,
        backup_every_seconds=backup_every,
        produced_by=input_stamps(data=snakemake.input.data, weights=weights),
        warn=log.warning,  # in the log and on the console
    )  # fmt: skip
except Exception:
    # The marker lets the next run report this run as failed instead of trying it again unchanged.
    log.exception(failure_line(experiment))
    raise
summary.update(
    experiment=snakemake.wildcards.experiment,
    backend=__import__("keras").backend.backend(),
    device=device_name(),
    versions=library_versions(),
)
write_history(snakemake.output.history, history)
saving = time.perf_counter()
save_model_atomically(model, snakemake.output.model)
summary["phases"] = {
    "imports": imported - started,
    "load_data": loaded - imported,
    **summary["phases"],
    "save_model": time.perf_counter() - saving,
}
with open(snakemake.output.summary, "w") as handle:
    json.dump(summary, handle, indent=2)
finish(snakemake.params.backup)
