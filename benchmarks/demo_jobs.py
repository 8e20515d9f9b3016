"""(f) Where the demo's time goes: `make demo`'s Snakemake command in a fresh copy of the workflow, timed
as a whole (wall and CPU of every process it started) and per job: each rule's jobs with their wall
seconds from Snakemake's log, and for the training jobs the phases that train.json records (imports,
building the model, compiling, the epochs, the backups, saving the model) and the seconds each process
ran before the script started.

    python benchmarks/demo_jobs.py                # a fresh demo run (minutes)
    python benchmarks/demo_jobs.py --from DIR     # tabulate a demo that already ran in DIR
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, machine, markdown_table, write_results

sys.path.insert(0, str(REPO / "tests"))
from workflow_copy import copy_workflow, job_intervals  # noqa: E402  (shared with the tests)

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
COMMAND = ["--cores", "2", "--configfile", "config/demo.yaml"]  # as `make demo`
TRAIN_PHASES = ["imports", "build", "compile", "cache", "fit", "backups", "save_model"]


def run_demo(workdir: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([SNAKEMAKE, *COMMAND], cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"the demo failed:\n{result.stderr[-4000:]}")
    return {
        "wall_seconds": wall,
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "system_seconds": after.ru_stime - before.ru_stime,
    }


def per_rule(workdir: Path) -> dict[str, dict]:
    """Jobs and summed wall seconds per rule, from the longest Snakemake log in the folder."""
    logs = sorted((workdir / ".snakemake/log").glob("*.snakemake.log"))
    intervals = max((job_intervals(path.read_text()) for path in logs), key=len)
    rules: dict[str, dict] = collections.defaultdict(lambda: {"jobs": 0, "wall_seconds": 0.0})
    for rule, start, end in intervals:
        rules[rule]["jobs"] += 1
        rules[rule]["wall_seconds"] += (end - start).total_seconds()
    return dict(rules)


def training_phases(results: Path) -> dict[str, float]:
    """Seconds per phase, summed over every training job (train.json), and the epochs' own share."""
    totals: dict[str, float] = collections.Counter()
    for path in sorted(results.glob("runs/*/seed*/train.json")):
        summary = json.loads(path.read_text())
        for phase, seconds in summary.get("phases", {}).items():
            totals[phase] += seconds
        totals["epochs"] += summary["train_seconds"]
        totals["jobs"] += 1
    return dict(totals)


def process_starts(results: Path) -> dict[str, float]:
    """Seconds from each job's process start to its script's first line, summed per rule."""
    pattern = re.compile(r"INFO (\w+): started ([\d.]+) s after its process")
    totals: dict[str, float] = collections.Counter()
    for log in results.glob("logs/**/*.log"):
        for rule, seconds in pattern.findall(log.read_text(errors="replace")):
            totals[rule] += float(seconds)
    return dict(totals)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="a folder where the demo already ran")
    parser.add_argument("--quick", action="store_true", help="accepted for run.py; the demo has one size")
    arguments = parser.parse_args()
    totals = None
    with tempfile.TemporaryDirectory() as scratch:
        workdir = arguments.source or copy_workflow(Path(scratch) / "workflow")
        if arguments.source is None:
            totals = run_demo(workdir)
        results = workdir / "results/demo"
        rules = per_rule(workdir)
        phases = training_phases(results)
        starts = process_starts(results)
    rows = [
        [rule, info["jobs"], f"{info['wall_seconds']:.0f}", f"{starts.get(rule, 0):.1f}"]
        for rule, info in sorted(rules.items(), key=lambda item: -item[1]["wall_seconds"])
    ]
    table = markdown_table(["rule", "jobs", "wall s (sum over jobs)", "process start s (sum)"], rows)
    phase_rows = [[phase, f"{phases.get(phase, 0):.1f}"] for phase in [*TRAIN_PHASES, "epochs"]]
    table += "\n\nTraining jobs, seconds summed over all of them:\n\n"
    table += markdown_table(["phase", "seconds"], phase_rows)
    notes = []
    if totals:
        notes.append(
            f"Whole run: {totals['wall_seconds']:.0f} s wall, {totals['cpu_seconds']:.0f} s CPU "
            f"({totals['system_seconds']:.0f} s of it system time)."
        )
    results_json = {
        "title": "Where the demo's time goes",
        "machine": machine(with_keras=False),
        "totals": totals,
        "rules": rules,
        "training_phases": phases,
        "process_starts": starts,
    }
    write_results("demo_jobs", results_json, table, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
