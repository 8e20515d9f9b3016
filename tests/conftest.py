"""Shared fixtures: a private copy of the workflow to run Snakemake in, and helpers to run it."""

from __future__ import annotations

import fcntl
import os
import re
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
    "test_pdf.py": "demo_run",
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


def running_jobs(output: str) -> list[str]:
    """The jobs Snakemake's output shows as started and not finished: `rule (wildcards), log: path`."""
    started, finished = {}, set()
    for block in re.split(r"\n(?=\[|localrule |rule |Finished jobid)", output):
        done = re.match(r"Finished jobid: (\d+)", block)
        if done:
            finished.add(done.group(1))
            continue
        rule = re.match(r"(?:local)?rule (\w+):", block)
        jobid = re.search(r"^\s+jobid: (\d+)", block, re.M)
        if rule and jobid:
            wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
            log = re.search(r"^\s+log: (.*)$", block, re.M)
            started[jobid.group(1)] = (
                f"{rule.group(1)} ({wildcards.group(1) if wildcards else 'no wildcards'})"
                + (f", log: {log.group(1)}" if log else "")
            )
    return [job for jobid, job in started.items() if jobid not in finished]


def job_memory(output: str) -> dict[tuple[str, str], int]:
    """(rule, wildcards) -> the mem_mb each job of `snakemake -n` declares."""
    memory = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", output):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        mem_mb = re.search(r"mem_mb=(\d+)", block)
        if rule and mem_mb:
            wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
            memory[rule.group(1), wildcards.group(1) if wildcards else ""] = int(mem_mb.group(1))
    return memory


def snakemake_log(workdir: Path) -> str:
    """Snakemake's own log of the latest run in `workdir` (.snakemake/log/): every job block, which the
    console (the transfer-study logger) shows as one line per job."""
    logs = sorted((workdir / ".snakemake/log").glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime)
    return logs[-1].read_text(errors="replace") if logs else ""


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900):
    """Run the Snakemake command line in `workdir`; returns the CompletedProcess.

    A run past `timeout` fails the test with the jobs that were still running and their logs.
    """
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow")}
    try:
        result = subprocess.run(
            [SNAKEMAKE, *args],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as expired:
        output = "".join(
            part.decode(errors="replace") if isinstance(part, bytes) else part or ""
            for part in (expired.stdout, expired.stderr)
        )
        # The console shows a line per finished job; Snakemake's log keeps the blocks of the started ones.
        output = snakemake_log(workdir) or output
        jobs = "\n  ".join(running_jobs(output)) or "none shown in its output"
        raise AssertionError(
            f"snakemake {' '.join(args)} ran past its {timeout} s in {workdir}; still running:\n  {jobs}"
        ) from None
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        )
    return result


def dry_run_jobs(workdir: Path, configfile: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job `snakemake -n` would run in `workdir` with `configfile`."""
    result = snakemake(workdir, "-n", "--cores", "2", "--configfile", configfile)
    jobs = []
    for block in re.split(r"\n\s*\n", result.stdout + result.stderr):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if rule:
            wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
            jobs.append((rule.group(1), wildcards.group(1) if wildcards else ""))
    return jobs


def kill_at_epoch(monkeypatch, epoch: int, error: type[Exception]) -> None:
    """Make train() raise `error` as epoch `epoch` (0-based) begins, as a killed job stops there;
    `monkeypatch.undo()` lets the next run go on."""
    from transfer_study.training import loop as training

    original = training.HistoryRecorder.on_epoch_begin

    def stop_here(self, current, logs=None):
        if current == epoch:
            raise error
        original(self, current, logs)

    monkeypatch.setattr(training.HistoryRecorder, "on_epoch_begin", stop_here)


@pytest.fixture
def workflow_dir(tmp_path) -> Path:
    return copy_workflow(tmp_path / "workflow")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """A folder where the whole demo workflow ran once; tests read its results, never change them.

    One seed instead of the demo's two keeps the suite within minutes on a 2-core machine; otherwise it
    is `make demo`'s command line, so the run also shows how the default profile schedules jobs.

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
    """The demo as `make demo` runs it, with one seed; its console output is kept for the tests."""
    config = workdir / "config/demo.yaml"
    config.write_text(config.read_text().replace("seeds: [0, 1]", "seeds: [0]"))
    result = snakemake(workdir, "--cores", "2", "--configfile", "config/demo.yaml", timeout=1200)
    (workdir.parent / "console.txt").write_text(result.stdout + result.stderr)


def demo_console(workdir: Path) -> str:
    """What the demo run printed (stdout and stderr)."""
    return (workdir.parent / "console.txt").read_text()
