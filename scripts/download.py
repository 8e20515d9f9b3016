from _workflow import start

log = start(snakemake)
from transfer_study.data.download import fetch, log_progress

source = snakemake.params.source
# The source's name in the config, for a checksum error to name its key (sources.<name>).
sources = snakemake.config["sources"]
name = next((key for key, spec in sources.items() if spec.get("path") == snakemake.wildcards.path), None)
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
    source=name,
)
