"""Does the training find its GPU? Checked before a real-size run starts, and again by each job.

A machine with a GPU but a CPU-only build of the backend (the plain `tensorflow` wheel, a CPU build of
torch) trains on the CPU without a word, for days at the study's size. Before any job runs, the
workflow asks the backend, in a separate process, which device it would use. If that is the CPU while
the training still to do is of real size, it says so with a rough estimate of the time, or stops when
`require_gpu` is set. Each training job checks again where it runs, so a cluster job that lands on a
node without a GPU fails in seconds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

# Each model family's rough training cost on the CPU (`cpu_seconds_per_image_at_32px` in its
# registration) was measured on this many cores; the cost grows with the image's area.
MEASURED_ON_CORES = 2
# Less training than this on a CPU is no reason to speak up (the demo, a small trial).
REAL_SIZE_HOURS = 1.0

GPU_SETUP = (
    "install a GPU build of the backend: `make setup-gpu` (TensorFlow with CUDA), or a CUDA build of "
    "torch or jax with KERAS_BACKEND=torch or jax (README, 'Running on a GPU')"
)


def gpu_visible(devices: Path = Path("/dev"), environ=os.environ) -> bool:
    """Whether this machine shows a GPU to its programs, seen from the device files alone (NVIDIA's
    /dev/nvidiaN, AMD's /dev/kfd) so that planning imports no backend. CUDA_VISIBLE_DEVICES set to
    nothing (or -1) hides them."""
    if environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    try:
        names = [path.name for path in devices.iterdir()]
    except OSError:
        return False
    return any(re.fullmatch(r"nvidia\d+", name) for name in names) or "kfd" in names


class NoAccelerator(RuntimeError):
    """`require_gpu: true`, and the backend sees no GPU."""


def is_accelerator(device: str) -> bool:
    """runtime.device_name() names the CPU as "CPU (...)", a device it could not ask about as
    "unknown (...)", and a GPU by its own name; only the last counts."""
    return not device.startswith(("CPU", "unknown"))


def estimated_cpu_hours(runs: list[dict], cores: int | None = None) -> float:
    """Rough hours on this machine's CPU for training runs given as dicts of model, image_size,
    epochs and images (training plus validation images per epoch)."""
    from transfer_study.models import registry

    cores = cores or os.cpu_count() or 1
    measured = {name: registry.get(name).cpu_seconds_per_image_at_32px for name in registry.names()}
    slowest = max(cost for cost in measured.values() if cost is not None)
    seconds = 0.0
    for run in runs:
        per_image = measured.get(run["model"]) or slowest  # a family not measured: as the slowest
        seconds += per_image * (run["image_size"] / 32) ** 2 * run["epochs"] * run["images"]
    return seconds * MEASURED_ON_CORES / cores / 3600


def probe_device(source: Path, timeout: float = 300) -> str:
    """The device Keras's backend would train on, asked in a fresh process (it imports the backend)."""
    code = (
        "from transfer_study.training.runtime import prepare_environment, device_name\n"
        "prepare_environment()\n"
        "print(device_name())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), os.environ.get("PYTHONPATH", "")])}
    try:
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return f"unknown (the backend did not answer within {timeout:.0f} s)"
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        return f"unknown (the backend could not be asked: {result.stderr.strip()[-300:]})"
    return lines[-1]


def no_gpu_message(backend: str, device: str, hours: float, count: int) -> str:
    return (
        f"No GPU: Keras's {backend} backend would train on {device}; the {count} training run(s) still "
        f"to do would take roughly {hours:.0f} hours on this CPU. For a GPU, {GPU_SETUP}. "
        "Set require_gpu: true to stop here instead."
    )


def require_accelerator(device: str, where: str) -> None:
    """For `require_gpu: true`: fail at once where the backend sees no GPU."""
    if not is_accelerator(device):
        raise NoAccelerator(
            f"require_gpu is true, but {where} Keras's backend sees no GPU (it would train on {device}); "
            f"{GPU_SETUP}, or set require_gpu: false to train on the CPU"
        )
