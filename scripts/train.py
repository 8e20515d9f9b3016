import json

from _workflow import start

log = start(snakemake)
from transfer_study.arrays import load_arrays
from transfer_study.failures import failure_line, raise_if_injected
from transfer_study.history import write_history
from transfer_study.runtime import device_name, library_versions, make_deterministic
from transfer_study.training import finish, save_model_atomically, train

experiment = json.loads(snakemake.params.experiment)
seed = int(snakemake.wildcards.seed)
make_deterministic(seed)
weights = snakemake.input.weights[0] if snakemake.input.weights else None
try:
    raise_if_injected(experiment)
    model, history, summary = train(
        experiment, seed, load_arrays(snakemake.input.data), weights, snakemake.params.backup, log.info
    )
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
with open(snakemake.output.summary, "w") as handle:
    json.dump(summary, handle, indent=2)
save_model_atomically(model, snakemake.output.model)
finish(snakemake.params.backup)
