import json
from pathlib import Path

import yaml
from _workflow import start

log = start(snakemake)
from transfer_study.report.claims import load_claims
from transfer_study.report.context import build_context
from transfer_study.report.results import load_json_files, read_benchmark_seconds
from transfer_study.report.words import load_strings

spec = json.loads(snakemake.params.spec)
benchmarks = {
    str(Path(path).relative_to(Path(path).parents[2])): read_benchmark_seconds(path)
    for path in snakemake.input.benchmarks
}
with open(snakemake.input.reported) as handle:
    reported = yaml.safe_load(handle)
context = build_context(
    spec,
    {name: spec["experiments"][name] for name in spec["order"]},  # config order, not sorted
    load_json_files(snakemake.input.metrics),
    load_json_files(snakemake.input.stats),
    reported,
    benchmarks,
    load_strings(snakemake.input.strings, spec["report"]["language"]),
    workflow_dir=Path(snakemake.scriptdir).parent,
    claims=load_claims(snakemake.input.claims),
    exports=[check for run in load_json_files(snakemake.input.exports) for check in run.values()],
)
Path(snakemake.output[0]).write_text(json.dumps(context, indent=2))
