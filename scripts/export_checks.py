import json
from pathlib import Path

from _workflow import start

log = start(snakemake)
# One run's checks, one per format, merged under the format's name in the config's order.
merged = {}
for path in snakemake.input.checks:
    check = json.loads(Path(path).read_text())
    merged[check["format"]] = check
Path(snakemake.output[0]).write_text(json.dumps(merged, indent=2) + "\n")
log.info("%s: %s", snakemake.output[0], ", ".join(f"{name} passed" for name in merged))
