import json

from _workflow import start

log = start(snakemake)
from transfer_study.training.evaluation import summary_table

spec = json.loads(snakemake.params.experiments)
table = summary_table(spec["experiments"], snakemake.input.metrics)
table.to_csv(snakemake.output.table, index=False)
log.info("%d runs in %s", len(table), snakemake.output.table)
