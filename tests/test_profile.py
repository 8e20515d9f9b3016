"""The default profile: where a GPU is visible, jobs that hold its token never overlap while CPU jobs
run beside them; where none is, model jobs take no token and run side by side."""

import pytest
from workflow_copy import job_intervals

from transfer_study.training.accelerator import gpu_visible

pytestmark = pytest.mark.workflow

GPU_RULES = {"train", "evaluate", "pretrain_backbone"}


def test_gpu_jobs_share_the_gpu_token_only_where_there_is_a_gpu(demo_run):
    logs = sorted((demo_run / ".snakemake/log").glob("*.snakemake.log"))
    intervals = max((job_intervals(path.read_text()) for path in logs), key=len)
    gpu = sorted((start, end) for rule, start, end in intervals if rule in GPU_RULES)
    assert len(gpu) >= 2 * 9 + 2  # train and evaluate per experiment, two pretrained backbones
    overlapping = [
        (a, b) for a, b in zip(gpu, gpu[1:], strict=False) if b[0] < a[1]
    ]  # fmt: skip
    if gpu_visible():
        assert not overlapping, "two jobs holding the GPU token ran at the same time"
    else:  # nothing to share: on two cores, two model jobs run at once
        assert len(overlapping) >= 5, "model jobs waited for each other on a machine without a GPU"
    if not gpu_visible():  # without a GPU, the demo's two cores also fit a CPU job beside a model job
        cpu = [(start, end) for rule, start, end in intervals if rule not in GPU_RULES | {"all"}]
        beside = [c for c in cpu for g in gpu if c[0] < g[1] and g[0] < c[1]]
        assert beside, "no CPU job ran while a model job was running"
