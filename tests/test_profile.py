"""The default profile: jobs that hold the GPU token never overlap; CPU jobs run beside them."""

import re
from datetime import datetime

import pytest

pytestmark = pytest.mark.workflow

GPU_RULES = {"train", "evaluate", "pretrain_backbone"}


def job_intervals(log_text: str) -> list[tuple[str, datetime, datetime]]:
    """(rule, start, end) of every job in a Snakemake run log."""
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


def test_gpu_jobs_never_overlap_while_cpu_jobs_run_beside_them(demo_run):
    logs = sorted((demo_run / ".snakemake/log").glob("*.snakemake.log"))
    intervals = max((job_intervals(path.read_text()) for path in logs), key=len)
    gpu = sorted((start, end) for rule, start, end in intervals if rule in GPU_RULES)
    assert len(gpu) >= 2 * 9 + 2  # train and evaluate per experiment, two pretrained backbones
    for (_, end), (next_start, _) in zip(gpu, gpu[1:], strict=False):
        assert next_start >= end, "two jobs holding the GPU token ran at the same time"
    cpu = [(start, end) for rule, start, end in intervals if rule not in GPU_RULES | {"all"}]
    beside = [c for c in cpu for g in gpu if c[0] < g[1] and g[0] < c[1]]
    assert beside, "no CPU job ran while a GPU job was running"
