import json
from pathlib import Path

from _workflow import start

log = start(snakemake)
from transfer_study.data.arrays import save_arrays
from transfer_study.data.preprocessing import preprocess_dataset

dataset = json.loads(snakemake.params.dataset)
archives = {split: path for split, path in snakemake.input.items() if split != "code"}
# A directory source's input is its fingerprint (what triggers reruns); the images are read from the folder.
archives.update(snakemake.params.directories)
size = int(snakemake.wildcards.size)
# The decoded images wait in files beside the output, mapped, not in memory (unlinked once mapped).
scratch = Path(snakemake.output.arrays).parent
arrays, stats = preprocess_dataset(
    dataset, archives, size, workers=snakemake.threads, scratch=scratch, name=snakemake.wildcards.dataset
)
stats["dataset"] = snakemake.wildcards.dataset
save_arrays(snakemake.output.arrays, arrays, stats["class_names"])
with open(snakemake.output.stats, "w") as handle:
    json.dump(stats, handle, indent=2)
log.info("%s: %s; %d member(s) skipped", stats["dataset"], stats["splits"], len(stats["skipped"]))
