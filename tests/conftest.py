"""Shared fixtures: a private copy of the workflow to run Snakemake in, and helpers to run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_copy import REPO, copy_workflow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SHARED_WEIGHTS = REPO.parent / "shared" / "weights"


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900):
    """Run the Snakemake command line in `workdir`; returns the CompletedProcess."""
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow")}
    result = subprocess.run(
        [SNAKEMAKE, *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        )
    return result


@pytest.fixture
def workflow_dir(tmp_path) -> Path:
    return copy_workflow(tmp_path / "workflow")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """A folder where the whole demo workflow ran once; tests read its results, never change them.

    One seed instead of the demo's two keeps the suite within minutes on a 2-core machine. One thread
    per job and three job slots let CPU jobs run beside the GPU-token jobs, so the run also shows that
    the default profile's `gpu=1` keeps those apart while the rest runs in parallel.
    """
    workdir = copy_workflow(tmp_path_factory.mktemp("demo") / "workflow")
    config = workdir / "config/demo.yaml"
    config.write_text(config.read_text().replace("seeds: [0, 1]", "seeds: [0]"))
    one_thread = [f"{rule}=1" for rule in ("train", "evaluate", "pretrain_backbone", "preprocess")]
    snakemake(
        workdir,
        "--cores",
        "3",
        "--set-threads",
        *one_thread,
        "--configfile",
        "config/demo.yaml",
        timeout=1500,
    )
    return workdir
