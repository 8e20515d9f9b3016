import json

from _workflow import start

log = start(snakemake)
from transfer_study.data.formats.registry import write_synthetic_source

spec = json.loads(snakemake.params.spec)
write_synthetic_source(snakemake.output[0], spec)
log.info("wrote a synthetic %s archive to %s", spec["format"], snakemake.output[0])
