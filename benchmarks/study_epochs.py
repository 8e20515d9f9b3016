"""(e) The study at its real size: seconds per epoch, images per second and peak memory of every
experiment in config/config.yaml, and the training time of the whole study that follows from them.

Each experiment trains through transfer_study.training.loop.train(), as the workflow's training job does,
in a process of its own (so the peak memory is that experiment's alone), on arrays of the real shapes
with random pixels: speed does not depend on what the images show. Beans: 1034 training and 133
validation images of 224x224; CIFAR-10: 40000 and 10000 of 32x32. Weights start random, which costs
the same per step as ImageNet weights. A few epochs are timed whole (validation included). The first
epoch also traces and compiles and, where it applies, computes the frozen cache: what it takes over
the median of the others counts once, and an experiment's estimate is that extra plus `epochs x the
median epoch`, times the number of seeds. Early stopping is left out of the estimate, so beans runs
that stop early take less.

    python benchmarks/study_epochs.py [--quick] [--fraction F] [--epochs N] [--only name,...]
                                      [--precision float32|mixed_float16|mixed_bfloat16]

`--fraction` trains on that share of the images and scales the median epoch back up to the full
splits (steps per epoch scale with the images; the first epoch's extra is not scaled, so the cache's
cost is undercounted); `--quick` is `--fraction 0.01 --epochs 2`, enough to check the script on a
CPU. On a GPU, leave both at their defaults (all the images, 3 epochs).
KERAS_BACKEND picks the backend (tensorflow, jax or torch) and `--precision` overrides every
experiment's precision; the results are named after both (study_epochs-<backend>-<precision>), so runs
with other backends and precisions sit side by side for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, EpochClock, load_study, machine, markdown_table, median, study_spec, write_results

STUDY_CONFIG = REPO / "config" / "config.yaml"
REPORTED = REPO / "config" / "reported.yaml"


def split_sizes(config: dict, dataset_name: str) -> tuple[int, int]:
    """(training, validation) images of a dataset at its real size, known before any download."""
    from transfer_study.config import CIFAR10_TRAIN_IMAGES_PER_CLASS, train_images_before_run

    dataset = config["datasets"][dataset_name]
    train = train_images_before_run(config, dataset_name)
    if dataset["format"] == "cifar10_tar":
        return train, len(dataset["class_names"]) * CIFAR10_TRAIN_IMAGES_PER_CLASS - train
    expected = dataset.get("expected_images") or {}
    if train is None or "validation" not in expected:
        raise SystemExit(
            f"{STUDY_CONFIG}: datasets.{dataset_name}.expected_images needs train and validation counts "
            "to size the benchmark's arrays"
        )
    return train, expected["validation"]


def random_arrays(train: int, validation: int, image_size: int, classes: int, seed: int = 0) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = (image_size, image_size, 3)
    return {
        "x_train": rng.integers(0, 256, (train, *shape), dtype=np.uint8),
        "y_train": rng.integers(0, classes, train),
        "x_validation": rng.integers(0, 256, (validation, *shape), dtype=np.uint8),
        "y_validation": rng.integers(0, classes, validation),
    }


def device_peak_bytes() -> int | None:
    """Peak accelerator memory this process used, where the backend tells it; None on a CPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        return torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        stats = device.memory_stats() if device.platform != "cpu" else None
        return stats.get("peak_bytes_in_use") if stats else None
    if backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return tf.config.experimental.get_memory_info("GPU:0")["peak"]
    return None


def measure(name: str, fraction: float, epochs: int, precision: str | None) -> dict:
    """Train one experiment for `epochs` epochs on `fraction` of its images; the timings and memory."""
    from transfer_study.training.loop import train
    from transfer_study.training.runtime import make_deterministic

    config = load_study()
    spec = study_spec(name)
    if precision:
        spec["precision"] = precision
    full_train, full_validation = split_sizes(config, spec["dataset"])
    train_images = max(spec["batch_size"], round(full_train * fraction))
    validation_images = max(1, round(full_validation * fraction))
    arrays = random_arrays(train_images, validation_images, spec["image_size"], spec["num_classes"])
    make_deterministic(0)
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as folder:
        _, _, summary = train(
            {**spec, "epochs": epochs, "early_stopping": None},
            0,
            arrays,
            None,
            Path(folder) / "backup",
            log=lambda _: None,
            extra_callbacks=[clock],
        )
    scale = (full_train + full_validation) / (train_images + validation_images)
    seconds = clock.seconds()
    steady = median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    return {
        "experiment": name,
        "images": {"train": train_images, "validation": validation_images},
        "full_images": {"train": full_train, "validation": full_validation},
        "epoch_seconds": seconds,
        "first_epoch_extra_seconds": seconds[0] - steady,
        "epoch_seconds_full": steady * scale,
        "frozen_cache": summary["frozen_cache"],
        "precision": spec.get("precision"),
        "peak_device_bytes": device_peak_bytes(),
        "peak_host_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure_in_own_process(name: str, fraction: float, epochs: int, precision: str | None) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, __file__, "--measure", name, "--fraction", str(fraction)]
        command += ["--epochs", str(epochs), "--out", out.name]
        command += ["--precision", precision] if precision else []
        subprocess.run(command, check=True, env=os.environ)
        return json.loads(Path(out.name).read_text())


def estimate(run: dict, study_epochs: int) -> float:
    return run["first_epoch_extra_seconds"] + study_epochs * run["epoch_seconds_full"]


def main(fraction: float, epochs: int, only: list[str] | None, precision: str | None) -> None:
    import keras
    import yaml

    config = load_study()
    names = only or list(config["experiments"])
    unknown = sorted(set(names) - set(config["experiments"]))
    if unknown:
        known = ", ".join(config["experiments"])
        raise SystemExit(f"unknown experiments {unknown}; {STUDY_CONFIG} has {known}")
    reported = yaml.safe_load(REPORTED.read_text())
    write_up_minutes = {
        name: row.get("train_minutes")
        for study in reported.values()
        for name, row in study.get("results", {}).items()
    }
    seeds = len(config["seeds"])
    runs = [measure_in_own_process(name, fraction, epochs, precision) for name in names]
    rows, total = [], 0.0
    for run in runs:
        name = run["experiment"]
        study_epochs = config["experiments"][name]["epochs"]
        one_run = estimate(run, study_epochs)
        total += one_run * seeds
        epoch = run["epoch_seconds_full"]
        peak = run["peak_device_bytes"]
        rows.append([
            name,
            epoch,
            run["full_images"]["train"] / epoch,
            run["first_epoch_extra_seconds"],
            "yes" if run["frozen_cache"]["used"] else "no",
            f"{peak / 2**30:.2f}" if peak is not None else "n/a",
            f"{run['peak_host_mib'] / 1024:.2f}",
            one_run / 60,
            write_up_minutes.get(name) or "",
        ])  # fmt: skip
    results = {
        "title": "The study at its real size: one experiment per process",
        "machine": machine(),
        "setup": {
            "fraction": fraction,
            "epochs_timed": epochs,
            "seeds": seeds,
            "precision_override": precision,
            "config": str(STUDY_CONFIG),
        },
        "runs": runs,
        "estimated_study_training_seconds": total,
    }
    table = markdown_table(
        [
            "experiment",
            "s/epoch",
            "train img/s",
            "first epoch extra s",
            "frozen part cached",
            "peak device GiB",
            "peak host GiB",
            "est. min per run",
            "write-up min",
        ],
        rows,
    )
    table += (
        f"\n\nEstimated training time of the whole study ({len(runs)} experiments x {seeds} seeds, every "
        f"epoch run): {total / 60:.0f} minutes ({total / 3600:.1f} h)."
    )
    notes = [
        f"Timed {epochs} epochs per experiment on {fraction:g} of the images, scaled to the full splits; "
        "epoch times include the validation pass. The write-up minutes are the beans write-up's, for one "
        "run each, on a Colab GPU."
    ]
    name = f"study_epochs-{keras.backend.backend()}-{precision or 'config'}"
    write_results(name, results, table, notes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1%% of the images and 2 epochs")
    parser.add_argument("--fraction", type=float, help="share of the images to train on (default 1)")
    parser.add_argument("--epochs", type=int, help="epochs to time per experiment (default 3)")
    parser.add_argument("--only", help="comma-separated experiment names (default: all)")
    parser.add_argument(
        "--precision",
        choices=["float32", "mixed_float16", "mixed_bfloat16"],
        help="train every experiment with this precision (default: each experiment's own)",
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    fraction = arguments.fraction or (0.01 if arguments.quick else 1.0)
    epochs = arguments.epochs or (2 if arguments.quick else 3)
    if not 0 < fraction <= 1 or epochs < 1:
        parser.error("--fraction must be in (0, 1] and --epochs at least 1")
    if arguments.measure:
        run = measure(arguments.measure, fraction, epochs, arguments.precision)
        Path(arguments.out).write_text(json.dumps(run))
    else:
        main(fraction, epochs, arguments.only.split(",") if arguments.only else None, arguments.precision)
