import json

from _workflow import start

log = start(snakemake)
from transfer_study.training.pretrain import pretrain_backbone

pretrain_backbone(json.loads(snakemake.params.spec), snakemake.output[0], log.info)
