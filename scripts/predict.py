from pathlib import Path

from _workflow import start

log = start(snakemake)
from transfer_study.predict import predict_images

run = Path(snakemake.input.model).parent
counts = predict_images(
    run, [Path(snakemake.params.images)], Path(snakemake.output[0]), top_k=snakemake.params.top_k
)
log.info("%s: %s", snakemake.output[0], counts)
