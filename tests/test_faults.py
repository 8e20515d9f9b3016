"""Faults around the workflow itself: concurrent runs, large configs."""

import csv
import os
import shutil
import signal
import subprocess
import time

import pytest
import yaml
from conftest import SNAKEMAKE, snakemake, snakemake_log
from test_dryrun import planned_jobs
from workflow_copy import write_scale_config

pytestmark = pytest.mark.workflow


def default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_second_snakemake_on_the_same_folder_is_refused_by_the_lock(workflow_dir, tmp_path):
    # The first run's output goes to a file: an unread pipe fills up and blocks Snakemake mid-run.
    first_log = tmp_path / "first.log"
    with first_log.open("w") as output:
        first = subprocess.Popen(
            [SNAKEMAKE, "--cores", "1", "--configfile", "config/demo.yaml"],
            cwd=workflow_dir,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, as a terminal's foreground job
            # A shell that starts a command in the background makes it ignore SIGINT, and its children
            # inherit that; Snakemake must see the Ctrl-C whatever started the tests.
            preexec_fn=default_sigint,
        )
    try:
        lock_dir = workflow_dir / ".snakemake/locks"
        deadline = time.monotonic() + 120
        while not any(lock_dir.glob("*")) and time.monotonic() < deadline:
            assert first.poll() is None, first_log.read_text()
            time.sleep(0.2)
        assert any(lock_dir.glob("*")), "the first run never took its lock"
        second = snakemake(workflow_dir, "--cores", "1", "--configfile", "config/demo.yaml", check=False)
        assert second.returncode != 0
        assert "cannot be locked" in second.stdout + second.stderr
    finally:
        # Ctrl-C in a terminal: SIGINT to Snakemake and the job it runs; Snakemake cleans up and unlocks.
        os.killpg(first.pid, signal.SIGINT)
        try:
            first.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
            pytest.fail(f"the first run did not stop on SIGINT:\n{first_log.read_text()[-3000:]}")
    # Nothing is left locked or half-written: a dry run plans the rest and does not ask for --unlock.
    after = snakemake(workflow_dir, "-n", "--cores", "1", "--configfile", "config/demo.yaml")
    assert "unlock" not in after.stdout + after.stderr


def test_fifty_experiments_times_five_seeds_plan(workflow_dir):
    scale = write_scale_config(workflow_dir, experiments=50, seeds=5)
    result = snakemake(workflow_dir, "-n", "--cores", "4", "--configfile", scale)
    jobs = planned_jobs(result.stdout + result.stderr)
    assert jobs["train"] == jobs["evaluate"] == 250


def test_a_failed_experiment_is_reported_and_the_rest_finishes(workflow_dir):
    """--keep-going: the other runs finish; the next run reports the failure instead of retrying it."""
    path = workflow_dir / "config/demo.yaml"
    config = yaml.safe_load(path.read_text())
    config["seeds"] = [0]
    config["experiments"] = {
        name: experiment for name, experiment in config["experiments"].items() if name.startswith("cifar10")
    }
    config["experiments"]["cifar10-stage2"]["inject_failure"] = True
    for experiment in config["experiments"].values():
        experiment.pop("export", None)  # three exports and their checks, which this test is not about
    config.pop("defaults")
    config.pop("grids")
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    results = workflow_dir / "results/demo"

    first = snakemake(
        workflow_dir, "--cores", "2", "--keep-going", "--configfile", "config/demo.yaml", check=False
    )
    assert first.returncode != 0
    assert "Error in rule train" in first.stdout + first.stderr
    for name in ("cifar10-stage1", "cifar10-stage3"):
        assert (results / f"runs/{name}/seed0/metrics.json").exists(), name
    assert not (results / "runs/cifar10-stage2/seed0/model.keras").exists()
    assert not (results / "report/report.html").exists()  # it needs every run; the next run builds it

    second = snakemake(workflow_dir, "--cores", "2", "--configfile", "config/demo.yaml")
    assert "Not retried: cifar10-stage2 seed 0" in second.stderr
    assert "rule train:" not in snakemake_log(workflow_dir)
    page = (results / "report/report.html").read_text()
    assert '<tr data-experiment="cifar10-stage2" class="failed">' in page
    assert '<tr data-experiment="cifar10-stage1">' in page
    assert (results / "report/report.pdf").exists() == bool(shutil.which("latexmk"))  # no TeX, no PDF
    with open(results / "summary.csv") as handle:
        assert {row["experiment"] for row in csv.DictReader(handle)} == {"cifar10-stage1", "cifar10-stage3"}

    # Fixing the experiment makes the run count again: it is planned, and nothing else trains.
    config["experiments"]["cifar10-stage2"]["inject_failure"] = False
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    planned = snakemake(workflow_dir, "-n", "--configfile", "config/demo.yaml")
    assert "Not retried" not in planned.stderr
    assert planned_jobs(planned.stdout + planned.stderr)["train"] == 1
