"""(d) The frozen-feature cache: seconds per epoch of the CIFAR-10 stage experiments with the cache and
without it (cache_frozen: false), same data, same process, alternating; and, on a GPU, float32 against
the mixed-precision policies.

Each run is transfer_study.training.loop.train() as the workflow calls it (SqueezeNet v1.1 at 32x32 px,
dropout 0.5, batch 32, no augmentation), on synthetic CIFAR-sized images; the pretrained weights do not
change the cost, so the base starts from random weights. Whole epochs are timed, the first two (tracing,
compiling, warming up) left out; the time to compute the cache is reported on its own.

On a CPU, mixed precision only emulates float16 and runs slower, so it is measured only where the
backend sees a GPU (or with --precision, to measure it anyway).

    python benchmarks/frozen_cache.py [--quick] [--precision]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import EpochClock, machine, markdown_table, median, write_results
from training_overhead import stage_3, synthetic_cifar

STAGES = {"stage1": "none", "stage2": ["fire8", "fire9"], "stage3": "all"}
STUDY_EPOCHS = 30  # what the study runs: the end-to-end estimate below uses it
WARM_UP_EPOCHS = 2


def one_run(experiment: dict, arrays: dict) -> dict:
    from transfer_study.training.loop import train
    from transfer_study.training.runtime import make_deterministic

    make_deterministic(0)
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as folder:
        _, _, summary = train(
            experiment, 0, arrays, None, Path(folder) / "backup", log=lambda _: None, extra_callbacks=[clock]
        )
    wall, cpu = clock.seconds(), clock.cpu_seconds()
    return {
        "epoch_seconds": wall,
        "epoch_cpu_seconds": cpu,
        "steady": median(wall[WARM_UP_EPOCHS:]),
        "steady_cpu": median(cpu[WARM_UP_EPOCHS:]),
        "cache": summary["frozen_cache"],
    }


def main(quick: bool, precision: bool) -> None:
    from transfer_study.training.runtime import device_name

    train_images, epochs, repeats = (2048, 4, 1) if quick else (4096, 5, 2)
    arrays = synthetic_cifar(train_images, train_images // 4)
    on_gpu = not device_name().startswith("CPU")
    runs: dict = {}
    rows = []
    for stage, plan in STAGES.items():
        experiment = {**stage_3(), "trainable": plan, "epochs": epochs}  # the stage's plan
        variants = {"no cache": {"cache_frozen": False}, "cache": {"cache_frozen": True}}
        if precision or on_gpu:
            variants["cache, mixed_float16"] = {"cache_frozen": True, "precision": "mixed_float16"}
            variants["cache, mixed_bfloat16"] = {"cache_frozen": True, "precision": "mixed_bfloat16"}
        results = {name: [] for name in variants}
        for _ in range(repeats):
            for name, overrides in variants.items():
                results[name].append(one_run({**experiment, **overrides}, arrays))
        runs[stage] = results
        plain = median([r["steady"] for r in results["no cache"]])
        plain_cpu = median([r["steady_cpu"] for r in results["no cache"]])
        for name, measured in results.items():
            steady = median([r["steady"] for r in measured])
            steady_cpu = median([r["steady_cpu"] for r in measured])
            to_cache = median([r["cache"]["seconds_to_cache"] for r in measured])
            used = measured[0]["cache"]["used"]
            study = (to_cache + STUDY_EPOCHS * steady) / (STUDY_EPOCHS * plain)
            rows.append([
                stage, name, "yes" if used else "no", steady, plain / steady, plain_cpu / steady_cpu,
                to_cache, 1 / study,
            ])  # fmt: skip
    reasons = {stage: runs[stage]["cache"][0]["cache"]["reason"] for stage in STAGES}
    results = {
        "title": "Frozen-feature cache: CIFAR-10 stage experiments, seconds per epoch",
        "machine": machine(),
        "setup": {
            "train_images": train_images,
            "validation_images": train_images // 4,
            "epochs": epochs,
            "repeats": repeats,
            "quick": quick,
            "mixed_precision_measured": precision or on_gpu,
        },
        "runs": runs,
        "cache_reasons": reasons,
    }
    table = markdown_table(
        [
            "experiment", "run", "cache used", "wall s/epoch", "speed-up per epoch (wall)",
            "speed-up per epoch (CPU s)", "s to cache", f"speed-up over {STUDY_EPOCHS} epochs (wall)",
        ],
        rows,
    )  # fmt: skip
    notes = [
        f"SqueezeNet v1.1 at 32x32 px, {train_images} training and {train_images // 4} validation images "
        f"(the study has 40000 and 10000), batch 32, {epochs} epochs per run (the first {WARM_UP_EPOCHS} "
        f"left out), {repeats} run(s) per row, alternating. The {STUDY_EPOCHS}-epoch column is "
        f"(caching + {STUDY_EPOCHS} cached epochs) against {STUDY_EPOCHS} uncached epochs.",
        "",
        *[f"- {stage}: {reason}" for stage, reason in reasons.items()],
    ]
    if not (precision or on_gpu):
        notes += [
            "",
            "Mixed precision: not measured. The backend sees no GPU; on a CPU the mixed policies emulate "
            "float16/bfloat16 and are slower, so a comparison would say nothing about the GPU runs the "
            "policies are for.",
        ]
    write_results("frozen_cache", results, table, notes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images, epochs and repeats")
    parser.add_argument("--precision", action="store_true", help="measure mixed precision even on a CPU")
    arguments = parser.parse_args()
    main(arguments.quick, arguments.precision)
