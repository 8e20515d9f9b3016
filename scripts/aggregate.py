import json

from _workflow import start

log = start(snakemake)
from transfer_study.grids import axis_columns
from transfer_study.training.evaluation import summary_table

spec = json.loads(snakemake.params.experiments)
table = axis_columns(summary_table(spec["experiments"], snakemake.input.metrics), spec["grids"])
table.to_csv(snakemake.output.table, index=False)
log.info("%d runs in %s", len(table), snakemake.output.table)
