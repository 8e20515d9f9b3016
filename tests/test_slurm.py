"""The workflow on a real SLURM cluster: one node on localhost, started for these tests.

tests/slurm/start-cluster.sh starts munged, slurmctld and slurmd with a slurm.conf of its own (the
machine's CPUs, one GPU gres, no accounting database); stop-cluster.sh ends exactly those daemons. The
demo then runs through snakemake-executor-plugin-slurm with profiles/slurm, as it would on a cluster:
every non-local job is a SLURM job, and SLURM, not Snakemake, makes the GPU jobs wait for the one GPU.
Only what a localhost cluster needs is added on the command line; the profile is used as it is.
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
import math
import os
import re
import shutil
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SNAKEMAKE, copy_workflow, snakemake

SCRIPTS = REPO / "tests" / "slurm"
TOOLS = ("munged", "mungekey", "slurmctld", "slurmd", "slurmstepd", "sbatch", "srun", "squeue", "scancel")
TOOLS += ("scontrol", "sinfo")
GPU_RULES = {"train", "evaluate", "pretrain_backbone"}
# Every rule that runs as a SLURM job, with what it asks for on this 2-CPU test node.
CLUSTER_RULES = {
    "pretrain_backbone": "mem_mb=3000 runtime=20",
    "preprocess": "mem_mb=2000 runtime=10",
    "train": "mem_mb=3000 runtime=30",
    "evaluate": "mem_mb=3000 runtime=20",
    "plot_curves": "mem_mb=1500 runtime=10",
    "plot_study": "mem_mb=1500 runtime=10",
    "plot_mistakes": "mem_mb=1500 runtime=10",
    "export_model": "mem_mb=3000 runtime=10",
}
# Threads per job as in the local demo run the results are compared with (rules/common.smk, on a
# machine without a GPU): one each, two for the backbone pretraining. The backends' sums depend on it.
THREADS = {rule: 2 if rule == "pretrain_backbone" else 1 for rule in CLUSTER_RULES}


def missing_requirement() -> str | None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"SLURM or munge not installed ({', '.join(missing)} missing; Debian: slurm-wlm munge)"
    if os.geteuid() != 0:
        return "the test cluster's slurmd must run as root"
    try:
        importlib.metadata.version("snakemake-executor-plugin-slurm")
    except importlib.metadata.PackageNotFoundError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[dev]')"
    if Path("/etc/slurm/slurm.conf").exists():
        return "/etc/slurm/slurm.conf exists: job steps would talk to that cluster, not the test one"
    return None


MISSING = missing_requirement()
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.workflow,
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
]


def localhost_cluster_args() -> list[str]:
    """What a one-node cluster without accounting needs on top of profiles/slurm."""
    resources = [
        f"{rule}:{item}"
        for rule, items in CLUSTER_RULES.items()
        for item in f"cpus_per_task={THREADS[rule]} {items}".split()
    ]
    return [
        "--profile",
        "profiles/slurm",
        # profiles/default (picked up as the workflow profile, and winning over --profile) holds the
        # local `gpu=1` token, which would make Snakemake hold GPU jobs back itself; on a cluster SLURM does.
        "--workflow-profile",
        "none",
        "--configfile",
        "config/demo.yaml",
        # No accounting database, so no sacct: job states come from squeue.
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        # One log per SLURM job stays in .snakemake/slurm_logs.
        "--slurm-keep-successful-logs",
        "--latency-wait",
        "5",
        "--default-resources",
        "slurm_partition=debug",
        "--set-threads",
        *[f"{rule}={threads}" for rule, threads in THREADS.items()],
        "--set-resources",
        *resources,
    ]


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on (held open together, so they differ)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


# Session scope, like demo_run: a test that asks for both gets the SLURM run first, so with
# pytest-xdist the cluster's demo runs while another worker runs the local one.
@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A running one-node cluster; SLURM_CONF points at it for the tests and the Snakemake they start."""
    folder = tmp_path_factory.mktemp("slurm")
    ctld_port, slurmd_port = free_ports(2)
    env = {**os.environ, "SLURM_TEST_CTLD_PORT": str(ctld_port), "SLURM_TEST_SLURMD_PORT": str(slurmd_port)}
    try:
        started = subprocess.run(
            [SCRIPTS / "start-cluster.sh", folder], env=env, capture_output=True, text=True, timeout=180
        )
        if started.returncode != 0:
            pytest.fail(f"the test cluster did not start:\n{started.stdout}\n{started.stderr}")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", str(folder / "slurm.conf"))
            yield folder
    finally:
        subprocess.run([SCRIPTS / "stop-cluster.sh", folder], timeout=120, check=False)


# Enough of the demo for every rule and both backbones: a run from scratch and a fine-tuned one on beans,
# a cached and an uncached stage on CIFAR-10. Fewer jobs than the whole demo, so less of the executor's
# polling; each is compared with the same job of the local demo run.
SLURM_EXPERIMENTS = ["beans-1-softmax", "beans-3a", "cifar10-stage1", "cifar10-stage3"]


@pytest.fixture(scope="session")
def slurm_run(cluster, tmp_path_factory) -> Path:
    """Part of the demo (SLURM_EXPERIMENTS, seeds [0] as demo_run) run to its final outputs on the cluster."""
    workdir = copy_workflow(tmp_path_factory.mktemp("slurm-demo") / "workflow")
    config = workdir / "config/demo.yaml"
    demo = yaml.safe_load(config.read_text())
    demo["seeds"] = [0]
    demo["experiments"] = {name: demo["experiments"][name] for name in SLURM_EXPERIMENTS}
    demo.pop("defaults")
    demo.pop("grids")
    config.write_text(yaml.safe_dump(demo, sort_keys=False))
    started = time.monotonic()
    snakemake(workdir, *localhost_cluster_args(), timeout=3000)
    print(f"SLURM demo run: {time.monotonic() - started:.0f} s")
    return workdir


# --- reading what happened -------------------------------------------------------------------------


def run_log(workdir: Path) -> str:
    """The Snakemake log of the run that did the most jobs in `workdir`."""
    logs = sorted((workdir / ".snakemake/log").glob("*.snakemake.log"))
    return max((path.read_text() for path in logs), key=lambda text: text.count("jobid: "))


def logged_jobs(text: str) -> dict[int, tuple[str, str, bool]]:
    """Snakemake job id -> (rule, wildcards, local) of every job a run log announces."""
    jobs = {}
    for local, rule, body in re.findall(r"^(local)?rule (\w+):\n((?:    .*\n)+)", text, re.M):
        jobid = int(re.search(r"^    jobid: (\d+)$", body, re.M).group(1))
        wildcards = re.search(r"^    wildcards: (.*)$", body, re.M)
        jobs[jobid] = (rule, wildcards.group(1) if wildcards else "", bool(local))
    return jobs


def submissions(text: str) -> list[tuple[int, str]]:
    """(Snakemake job id, SLURM job id) of every sbatch the SLURM executor made."""
    found = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", text)
    return [(int(jobid), slurm_id) for jobid, slurm_id in found]


def slurm_jobs() -> dict[str, dict[str, str]]:
    """SLURM job id -> the fields `scontrol show job` reports (finished jobs stay for MinJobAge)."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True, check=True)
    jobs = {}
    for line in out.stdout.splitlines():
        fields = dict(re.findall(r"(\S+?)=(\S*)", line))
        if "JobId" in fields:
            jobs[fields["JobId"]] = fields
    return jobs


def when(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S")


def numbers_match(ours, theirs, path="", tolerance=1e-6) -> list[str]:
    """Where two JSON-like values differ (timings left out), numbers within `tolerance`."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        problems = [f"{path}: keys {sorted(set(ours) ^ set(theirs))}"] if set(ours) != set(theirs) else []
        for key in set(ours) & set(theirs):
            if "seconds" not in key:
                problems += numbers_match(ours[key], theirs[key], f"{path}.{key}", tolerance)
        return problems
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return [f"{path}: {len(ours)} != {len(theirs)} items"]
        pairs = enumerate(zip(ours, theirs, strict=True))
        return [p for i, (a, b) in pairs for p in numbers_match(a, b, f"{path}[{i}]", tolerance)]
    numeric = (int, float)
    if isinstance(ours, numeric) and isinstance(theirs, numeric) and not isinstance(ours, bool):
        close = math.isclose(ours, theirs, rel_tol=tolerance, abs_tol=tolerance)
        return [] if close else [f"{path}: {ours} != {theirs}"]
    return [] if ours == theirs else [f"{path}: {ours!r} != {theirs!r}"]


def read_rows(path: Path) -> list[dict]:
    """A CSV's rows, numbers as floats, timing columns left out."""
    with open(path) as handle:
        rows = list(csv.DictReader(handle))

    def value(text):
        try:
            return float(text)
        except ValueError:
            return text

    return [{key: value(text) for key, text in row.items() if "seconds" not in key} for row in rows]


# --- the full demo on SLURM ------------------------------------------------------------------------


def test_every_job_that_is_not_local_ran_as_one_slurm_job(slurm_run, demo_run):
    text = run_log(slurm_run)
    jobs = logged_jobs(text)
    remote = {jobid: job for jobid, job in jobs.items() if not job[2]}
    sent = submissions(text)
    assert sorted(jobid for jobid, _ in sent) == sorted(remote), "a job was not submitted, or twice"
    # The same jobs as the local run of the same experiments: the cluster's share and the local share.
    local_run = {
        (rule, wildcards)
        for rule, wildcards, _ in logged_jobs(run_log(demo_run)).values()
        if of_slurm_experiments(rule, wildcards)
    }
    local_rules = {rule for rule, _, local in jobs.values() if local}
    assert {(rule, wildcards) for rule, wildcards, _ in remote.values()} == {
        job for job in local_run if job[0] not in local_rules
    }
    assert {(rule, wildcards) for rule, wildcards, local in jobs.values() if local} == {
        job for job in local_run if job[0] in local_rules
    }
    assert {"synthetic_archive", "aggregate"} <= local_rules
    cluster_rules = {rule for rule, _, _ in remote.values()}
    assert set(CLUSTER_RULES) == cluster_rules
    # The profile sizes every rule that ran on the cluster itself (a --set-resources replaces its list).
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    for rule in cluster_rules:
        asked = profile["set-resources"][rule]
        assert {"runtime", "mem_mb", "cpus_per_task"} <= set(asked), rule
        assert asked.get("gpu") == (1 if rule in GPU_RULES else None), rule
        assert profile["set-threads"][rule] == asked["cpus_per_task"], rule
    # Each SLURM job: one job of this run, its own log, and finished as COMPLETED on the node.
    slurm_ids = [slurm_id for _, slurm_id in sent]
    assert len(set(slurm_ids)) == len(slurm_ids)
    logs = {path.stem for path in (slurm_run / ".snakemake/slurm_logs").rglob("*.log")}
    assert logs == set(slurm_ids)
    known = slurm_jobs()
    for jobid, slurm_id in sent:
        rule, wildcards, _ = remote[jobid]
        job = known[slurm_id]
        assert job["JobState"] == "COMPLETED", (rule, wildcards, job["JobState"])
        assert job["WorkDir"] == str(slurm_run)
        assert job["Comment"].startswith(f"rule_{rule}"), job["Comment"]
        assert job["NumCPUs"] == str(THREADS[rule]) and job["Partition"] == "debug"


def test_the_final_outputs_are_built(slurm_run, demo_run):
    results = slurm_run / "results/demo"
    tex = shutil.which("latexmk") is not None  # the PDF is built only where TeX is
    for path in ("summary.csv", "report/report.html") + (("report/report.pdf",) if tex else ()):
        assert (results / path).stat().st_size > 0, path
        assert (demo_run / "results/demo" / path).exists(), path
    if tex:
        assert (results / "report/report.pdf").read_bytes()[:5] == b"%PDF-"


def of_slurm_experiments(rule: str, wildcards: str) -> bool:
    """Whether a job of the local demo run belongs to the SLURM run's experiments too."""
    experiments = re.search(r"experiment=([^,]+)", wildcards)
    if experiments:
        return experiments.group(1) in SLURM_EXPERIMENTS
    if rule == "plot_grid":
        return False  # the SLURM run leaves the demo's grid out
    if rule == "plot_curves":
        demo = yaml.safe_load((REPO / "config/demo.yaml").read_text())["experiments"]
        groups = {f"study={demo[name]['study']}, group={demo[name]['group']}" for name in SLURM_EXPERIMENTS}
        return wildcards in groups
    return True


def test_results_equal_those_of_the_local_run(slurm_run, demo_run):
    """Same code, data, seeds and CPU: the numbers are the local run's (timings aside)."""
    from transfer_study.training.accelerator import gpu_visible

    if gpu_visible():
        pytest.skip("with a GPU visible the local run's model jobs take more threads than THREADS")
    ours, theirs = slurm_run / "results/demo/runs", demo_run / "results/demo/runs"
    runs = sorted(path.relative_to(ours) for path in ours.glob("*/seed*"))
    assert [run.parts[0] for run in runs] == sorted(SLURM_EXPERIMENTS)
    problems = []
    for run in runs:
        for name in ("metrics.json", "train.json"):
            mine, local = (json.loads((root / run / name).read_text()) for root in (ours, theirs))
            for key in ("wall_seconds_this_run", "versions", "phases"):
                mine.pop(key, None)
                local.pop(key, None)
            problems += [f"{run}/{name}{where}" for where in numbers_match(mine, local)]
        history = [read_rows(root / run / "history.csv") for root in (ours, theirs)]
        assert len(history[0]) == len(history[1]) >= 1, run
        problems += [f"{run}/history.csv{where}" for where in numbers_match(*history)]
    summary = [read_rows(root / "results/demo/summary.csv") for root in (slurm_run, demo_run)]
    # The local run's grid gives its summary a column per axis, which the SLURM run (no grid) lacks.
    summary[1] = [
        {key: value for key, value in row.items() if not key.startswith("grid.")}
        for row in summary[1]
        if row["experiment"] in SLURM_EXPERIMENTS
    ]
    problems += [f"summary.csv{where}" for where in numbers_match(*summary)]
    assert not problems, "\n".join(problems)


def test_gpu_jobs_held_the_gpu_gres_and_slurm_ran_them_one_at_a_time(slurm_run):
    text = run_log(slurm_run)
    jobs = logged_jobs(text)
    known = slurm_jobs()
    gpu, cpu = [], []
    for jobid, slurm_id in submissions(text):
        job = known[slurm_id]
        interval = (when(job["SubmitTime"]), when(job["StartTime"]), when(job["EndTime"]))
        if jobs[jobid][0] in GPU_RULES:
            assert job.get("TresPerJob") == "gres:gpu:1", (jobs[jobid], job.get("TresPerJob"))
            gpu.append(interval)
        else:
            assert "gpu" not in job.get("TresPerJob", ""), jobs[jobid]
            cpu.append(interval)
    assert len(gpu) == 2 * len(SLURM_EXPERIMENTS) + 2
    gpu.sort(key=lambda interval: interval[1])
    for (_, _, end), (_, next_start, _) in zip(gpu, gpu[1:], strict=False):
        assert next_start >= end, "two jobs holding the GPU ran at the same time"
    # Snakemake submitted GPU jobs while another held the GPU: SLURM queued them until it was free.
    queued = [j for j in gpu for k in gpu if k[1] <= j[0] < k[2] <= j[1]]
    assert queued, "no GPU job ever waited in SLURM's queue for the GPU"
    # The node had a free CPU for other work meanwhile: the GPU, not the CPUs, made them wait.
    beside = [c for c in cpu for g in gpu if c[1] < g[2] and g[1] < c[2]]
    assert beside, "no CPU job ran while a GPU job was running"


# --- a training job cancelled on the cluster -------------------------------------------------------


def test_a_cancelled_training_job_resumes_on_the_next_run(slurm_run):
    """scancel a training job after its first epoch; the next Snakemake run resumes it from the backup.

    Seed 1 of one experiment, which the config does not list but the train rule builds on request.
    """
    run = slurm_run / "results/demo/runs/beans-1-softmax/seed1"
    target = str(run.relative_to(slurm_run) / "model.keras")
    # No retries: the cancelled job stays failed, and the second run picks it up. A backup after every
    # epoch (the default spaces them by a minute, longer than this whole job).
    every_epoch = ["--config", "backup_every_seconds=0"]
    first = subprocess.Popen(
        [SNAKEMAKE, target, *localhost_cluster_args(), *every_epoch, "--retries", "0"],
        cwd=slurm_run,
        env={**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 600
        while not (run / "backup/training_metadata.json").exists():
            assert first.poll() is None, first.stdout.read()
            assert time.monotonic() < deadline, "the training job never finished an epoch"
            time.sleep(0.2)
        queue = subprocess.run(["squeue", "-h", "-o", "%i %k"], capture_output=True, text=True, check=True)
        running = [line.split()[0] for line in queue.stdout.splitlines() if "rule_train_" in line]
        assert len(running) == 1, queue.stdout
        cancelled = running[0]
        subprocess.run(["scancel", cancelled], check=True)
        output, _ = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.terminate()
            first.wait(timeout=120)
    assert first.returncode != 0, output
    assert "Error in rule train" in output
    assert slurm_jobs()[cancelled]["JobState"] == "CANCELLED"
    assert not (run / "model.keras").exists() and not (run / "train.json").exists()
    finished = json.loads((run / "backup/training_metadata.json").read_text())["epoch"]
    assert finished >= 1

    second = snakemake(slurm_run, target, *localhost_cluster_args(), *every_epoch, timeout=900)
    resubmitted = [slurm_id for _, slurm_id in submissions(second.stdout + second.stderr)]
    assert len(resubmitted) == 1 and resubmitted[0] != cancelled
    assert slurm_jobs()[resubmitted[0]]["JobState"] == "COMPLETED"
    summary = json.loads((run / "train.json").read_text())
    assert summary["resumed_after_epoch"] >= finished
    history = read_rows(run / "history.csv")
    assert len(history) == summary["epochs_run"] > summary["resumed_after_epoch"]
    assert [row["epoch"] for row in history] == list(range(1, len(history) + 1))
    log = (slurm_run / "results/demo/logs/train/beans-1-softmax/seed1.log").read_text()
    assert f"resuming after epoch {summary['resumed_after_epoch']}" in log
    assert not (run / "backup").exists()
