"""A private copy of the workflow to run Snakemake in, and configs written into it.

Plain functions without pytest, so that the tests (through conftest.py) and benchmarks/scheduling.py
share them.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ["Snakefile", "rules", "scripts", "config", "src", "report", "envs", "profiles"]


def copy_workflow(destination: Path) -> Path:
    """The workflow's files in a fresh folder, so a test may edit them and run Snakemake there."""
    destination.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, destination / part)
    return destination


# Files of a finished run that a copy links to rather than copies: the models, the preprocessed data and
# the exports, nine tenths of the demo's 660 MB. Snakemake deletes an output before the job that writes
# it again, so a test's copy never writes into a linked file; nothing else opens them for writing.
LINKED_SUFFIXES = (".keras", ".npz", ".h5", ".onnx", ".tflite")


def copy_finished_run(source: Path, destination: Path) -> Path:
    """A private copy of a finished workflow folder (results, metadata and all) for one test to change:
    its large outputs hard-linked (LINKED_SUFFIXES, and everything in an export/ folder), the rest
    copied, so that each copy of the demo costs some 50 MB of disk instead of 660."""

    def link_or_copy(source_file: str, destination_file: str) -> str:
        large = source_file.endswith(LINKED_SUFFIXES) or f"{os.sep}export{os.sep}" in source_file
        if large and "results" in Path(source_file).relative_to(source).parts[:1]:
            try:
                os.link(source_file, destination_file)
                return destination_file
            except OSError:  # another file system, or links not allowed: a copy does as well
                pass
        return shutil.copy2(source_file, destination_file)

    shutil.copytree(source, destination, symlinks=True, copy_function=link_or_copy)
    return destination


def write_scale_config(workdir: Path, experiments: int = 50, seeds: int = 5) -> str:
    """The study's config with `experiments` copies of CIFAR-10 stage 2 (learning rates apart) and
    `seeds` seeds, written beside it. Returns the config's path relative to `workdir`, for `--configfile`.
    """
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    stage2 = config["experiments"]["cifar10-stage2"]
    config["experiments"] = {
        f"cifar10-lr{i:02d}": {**stage2, "optimizer": {"name": "adam", "learning_rate": 1e-4 * (i + 1)}}
        for i in range(experiments)
    }
    config["seeds"] = list(range(seeds))
    (workdir / "config/scale.yaml").write_text(yaml.safe_dump(config))
    return "config/scale.yaml"


def job_intervals(log_text: str) -> list[tuple[str, datetime, datetime]]:
    """(rule, start, end) of every finished job in a Snakemake run log (to the second)."""
    stamp = r"\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]"
    started = {
        jobid: (rule, datetime.strptime(when, "%a %b %d %H:%M:%S %Y"))
        for when, rule, jobid in re.findall(
            stamp + r"\n(?:local)?rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)", log_text
        )
    }
    finished = {
        jobid: datetime.strptime(when, "%a %b %d %H:%M:%S %Y")
        for when, jobid in re.findall(stamp + r"\nFinished jobid: (\d+)", log_text)
    }
    return [(rule, start, finished[jobid]) for jobid, (rule, start) in started.items() if jobid in finished]
