"""Shared fixtures: a private copy of the workflow to run Snakemake in, and helpers to run it."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_copy import REPO, copy_workflow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SHARED_WEIGHTS = REPO.parent / "shared" / "weights"

# Test modules whose tests share one long workflow run (a session fixture), by the name of that run.
# With pytest-xdist (`make test` runs `pytest -n N`) the tests of one run go to one worker, in turn:
# the run is made once, and no test copies a folder while another test runs Snakemake in it. Those
# groups are handed out first, so the local demo and the SLURM cluster's demo start side by side and
# every other test fills in around them.
SHARED_RUNS = {
    "test_workflow_demo.py": "demo_run",
    "test_profile.py": "demo_run",
    "test_rebuild.py": "demo_run",
    "test_slurm.py": "slurm_run",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """xdist's default (`--dist load`) with the groups above; other `--dist` modes stay as they are.

    xdist's own `--dist loadgroup` cannot do this with pytest 9, which no longer reads the node id
    that xdist rewrites to carry the group.
    """
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedRunScheduling(LoadScopeScheduling):
        # A work unit is one test, or every test of one shared run; the larger units go out first.
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
            return SHARED_RUNS.get(module, nodeid)

    return SharedRunScheduling(config, log)


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

    With pytest-xdist (`make test`) each worker has a session of its own: the first worker to ask runs
    the demo under a file lock in the temporary folder the workers share, and the others reuse it.
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    workdir = shared / "demo-run" / "workflow"
    finished, failed = shared / "demo-run.finished", shared / "demo-run.failed"
    with open(shared / "demo-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if failed.exists():
            pytest.fail(f"the demo run failed in another worker:\n{failed.read_text()}")
        if not finished.exists():
            try:
                run_demo(copy_workflow(workdir))
            except BaseException as error:
                failed.write_text(str(error))
                raise
            finished.touch()
    return workdir


def run_demo(workdir: Path) -> None:
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
