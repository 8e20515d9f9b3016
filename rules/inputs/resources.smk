# What each job asks of the machine: threads, the GPU token, memory (included by the Snakefile).


# The jobs that run a model (training, evaluation, backbone pretraining) take the one `gpu` token of the
# default profile where a GPU is visible, so two never share it, and always on a cluster (where it asks
# the scheduler for a GPU). Without a GPU on this machine there is nothing to share: every core trains,
# and jobs run side by side with one thread each, which gets about twice the work done on two cores
# that one job with two threads does (docs/performance.md). Cluster profiles set threads per rule.
GPU_VISIBLE = accelerator.gpu_visible()
MODEL_THREADS = 4 if GPU_VISIBLE else 1
# Preprocessing decodes on every core it is given (data/datasets.py, decode_into), and every job after
# it waits for it; where no total is set (a cluster's executor), cluster profiles set it per rule.
try:
    DATA_THREADS = max(1, int(workflow.cores))
except (WorkflowError, TypeError):
    DATA_THREADS = 4
# The demo's VGG16 pretraining is the one model job that two threads speed up almost twice on a CPU,
# and two thirds of the demo's beans runs wait for it.
PRETRAIN_THREADS = 4 if GPU_VISIBLE else 2


def gpu_token(wildcards):
    """1 where the job needs the GPU to itself; evaluated once the executor is known."""
    return 1 if GPU_VISIBLE or workflow.non_local_exec else 0


# Memory: each model job declares `mem_mb` from its model, image size and batch (models/memory.py), not
# from the data set, which it reads a batch at a time. A run on this machine without
# `--resources mem_mb=N` takes the machine's memory as the limit, so jobs run side by side only while
# their sum fits; a job that alone asks for more than the limit is given the limit (it runs alone).
if "mem_mb" not in workflow.global_resources and not workflow.non_local_exec:
    if machine_mb := model_memory.machine_memory_mb():
        workflow.register_resource("mem_mb", machine_mb)


def model_job_memory(trains=False, batch_size=None, exports=False, experiment_of=None):
    """The `mem_mb` of a job that trains, runs or exports (`exports`, to its wildcards' format) the
    experiment of its wildcards (or the one `experiment_of(wildcards)` names)."""

    def mem_mb(wildcards):
        name = experiment_of(wildcards) if experiment_of else wildcards.experiment
        spec = study_config.training_spec(config, name)
        if exports:
            needed = model_memory.export_job_mb(spec, wildcards.format)
        else:
            needed = model_memory.model_job_mb(spec, trains, batch_size)
        limit = workflow.global_resources.get("mem_mb").value
        return min(needed, limit) if isinstance(limit, int) else needed

    return mem_mb
