"""(c) Scheduling: seconds for `snakemake -n` (plan every job, run none) on the full study config
(config/config.yaml: 9 experiments x 3 seeds) and on a generated config of 50 experiments x 5 seeds
(written by tests/workflow_copy.py, as for the tests), in a fresh copy of the workflow so that
nothing has run yet.

Also the time of `snakemake --version`, the part of every call that is only starting Python and
importing Snakemake.

    python benchmarks/scheduling.py [--quick]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, machine, markdown_table, median, write_results

sys.path.insert(0, str(REPO / "tests"))
from workflow_copy import copy_workflow, write_scale_config  # noqa: E402  (shared with the tests)

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def planned_jobs(output: str) -> int | None:
    match = re.search(r"^total\s+(\d+)", output, flags=re.M)
    return int(match.group(1)) if match else None


def run(workdir: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run([SNAKEMAKE, *args], cwd=workdir, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return seconds, result.stdout + result.stderr


def main(quick: bool) -> None:
    repeats = 2 if quick else 3
    measured, jobs = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        workdir = copy_workflow(Path(folder) / "workflow")
        cases = {
            "snakemake --version (start-up only)": ["--version"],
            "snakemake -n, config/config.yaml (9 experiments x 3 seeds)": [
                "-n", "--cores", "4", "--configfile", "config/config.yaml",
            ],
            "snakemake -n, 50 experiments x 5 seeds": [
                "-n", "--cores", "4", "--configfile", write_scale_config(workdir, experiments=50, seeds=5),
            ],
        }  # fmt: skip
        for name, args in cases.items():
            measured[name] = []
            for _ in range(repeats):
                seconds, output = run(workdir, *args)
                measured[name].append(seconds)
            jobs[name] = planned_jobs(output)
    rows = [[name, median(seconds), min(seconds), jobs[name] or "-"] for name, seconds in measured.items()]
    results = {
        "title": "Scheduling: snakemake -n",
        "machine": machine(with_keras=False),
        "setup": {"repeats": repeats, "quick": quick},
        "seconds": measured,
        "planned_jobs": jobs,
    }
    table = markdown_table(["command", "seconds (median)", "seconds (best)", "jobs planned"], rows)
    notes = [
        f"A fresh copy of the workflow (nothing run yet, so every job is planned); {repeats} runs each. "
        "The default profile applies (profiles/default).",
    ]
    write_results("scheduling", results, table, notes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    main(parser.parse_args().quick)
