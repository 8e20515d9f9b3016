from _workflow import start

log = start(snakemake)
from transfer_study.data.download import fetch, log_progress

source = snakemake.params.source
fetch(
    source["url"],
    snakemake.output[0],
    source["checksums"],
    source.get("size"),
    progress=log_progress(log, snakemake.output[0]),
    log=log,
    # Network blips and corrupted transfers are tried again here; a 404 or a missing file:// path
    # fails at once, without Snakemake trying the whole job again.
    attempts=4,
)
