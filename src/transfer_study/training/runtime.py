"""Backend-specific knobs, kept out of the models and the training loop.

Models and training speak `keras` and `keras.ops` only. The few settings Keras leaves to the backend
(determinism, GPU memory growth, naming the device) live here, each behind a check of the backend.
"""

from __future__ import annotations

import atexit
import gc
import importlib.metadata
import math
import os
import platform
import time

# For the processes a workflow starts (set before they start: glibc reads these once). The backends free
# and allocate the same large buffers every step; by default glibc hands freed memory at the top of the
# heap back to the kernel at once, and each step then faults it in again. Keeping it cuts a training
# job's system time by three quarters and its wall time by about a sixth (docs/performance.md).
JOB_ENVIRONMENT = {"MALLOC_TRIM_THRESHOLD_": str(1 << 30), "MALLOC_TOP_PAD_": str(1 << 28)}


def prepare_environment(threads: int | None = None) -> None:
    """Call before keras is imported: settings that the backends read from the environment.

    `threads` caps the CPU threads of the backend's kernels (the job's Snakemake threads); None
    leaves the backend's default (every core).
    """
    # TensorFlow: take GPU memory as needed instead of all of it at start.
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # JAX: same idea, no preallocation of most of the GPU.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if threads:
        count = str(threads)
        for name in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = count
        os.environ["TF_NUM_INTEROP_THREADS"] = count
        if threads == 1:
            flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()


def skip_final_garbage_collection() -> None:
    """Call once in a process that imports a backend: when it exits, freeze every object first, so the
    garbage collections Python runs while it shuts down pass them by.

    TensorFlow and Keras leave hundreds of thousands of objects behind; collecting them is the last
    0.6 to 0.8 s of every model job's process (docs/performance.md (f)), time that buys nothing as the
    process's memory goes back to the system anyway. Whatever must happen at exit still does: atexit
    handlers (logging's flush) run, and objects that nothing refers to are freed as before. Only
    objects in reference cycles are left to the system unfinalized, so files are written with `with`.
    """
    atexit.register(gc.freeze)


def seconds_since_process_start(now: float | None = None) -> float:
    """How long the interpreter ran before `now` (default: this moment); NaN where it cannot be told."""
    try:
        import psutil  # comes with Snakemake
    except ImportError:
        return math.nan
    return (time.time() if now is None else now) - psutil.Process().create_time()


def make_deterministic(seed: int) -> None:
    """Seed every generator Keras uses and ask the backend for deterministic kernels."""
    import keras

    keras.utils.set_random_seed(seed)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def device_name() -> str:
    """The accelerator the backend will use, or the CPU."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return details.get("device_name", gpus[0].name)
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_name(0)
        elif backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform != "cpu":
                return device.device_kind
    except Exception as error:  # a broken driver must not fail a finished training job
        return f"unknown ({error})"
    return f"CPU ({platform.processor() or platform.machine()})"


def library_versions() -> dict[str, str]:
    names = ["keras", "tensorflow", "torch", "jax", "numpy", "snakemake", "transfer-study"]
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    versions["python"] = platform.python_version()
    return versions
