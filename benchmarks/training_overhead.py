"""(a) Overhead of our training loop: seconds per epoch of transfer_study.training.loop.train() against a bare
`model.fit` of the same model on the same arrays, in the same process.

train() adds the deterministic batch order (a PyDataset), the per-epoch reseeding, the history file and
the BackupAndRestore checkpoint after every epoch. Whole epochs are timed (from one epoch's start to the
next one's, callbacks included), in wall seconds and in CPU seconds of the process (less swayed by other
jobs on the machine); the first two epochs (tracing, compiling, warming up) are left out. The model is the
CIFAR-10 stage-3 one (every layer trains, so the frozen cache does not apply and both sides do the same
work). The two sides alternate, so drifts in the machine's load hit both.

    python benchmarks/training_overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import EpochClock, machine, markdown_table, median, study_spec, write_results


def synthetic_cifar(train: int, validation: int, seed: int = 0) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, train + validation)
    images = rng.integers(0, 256, (train + validation, 32, 32, 3), dtype=np.uint8)
    return {
        "x_train": images[:train], "y_train": labels[:train],
        "x_validation": images[train:], "y_validation": labels[train:],
    }  # fmt: skip


def stage_3() -> dict:
    """CIFAR-10 stage 3 as config/config.yaml has it (every layer trains, so the cache does not apply)."""
    return study_spec("cifar10-stage3")


def bare_fit(experiment: dict, arrays: dict) -> list[float]:
    from transfer_study.models.build import build_model
    from transfer_study.training.compiling import compile_model, one_hot
    from transfer_study.training.runtime import make_deterministic

    make_deterministic(0)
    model = build_model(experiment, experiment["num_classes"])
    compile_model(model, experiment)
    clock = EpochClock()
    model.fit(
        arrays["x_train"],
        one_hot(arrays["y_train"], experiment["num_classes"]),
        validation_data=(arrays["x_validation"], one_hot(arrays["y_validation"], experiment["num_classes"])),
        batch_size=experiment["batch_size"],
        epochs=experiment["epochs"],
        shuffle=True,
        verbose=0,
        callbacks=[clock],
    )
    return {"wall": clock.seconds(), "cpu": clock.cpu_seconds()}


def our_train(experiment: dict, arrays: dict) -> list[float]:
    from transfer_study.training.loop import train
    from transfer_study.training.runtime import make_deterministic

    make_deterministic(0)
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as folder:
        _, _, summary = train(
            experiment, 0, arrays, None, Path(folder) / "backup", log=lambda _: None, extra_callbacks=[clock]
        )
    assert not summary["frozen_cache"]["used"]
    return {"wall": clock.seconds(), "cpu": clock.cpu_seconds()}


def backup_seconds(experiment: dict, repeats: int = 5) -> float:
    """What BackupAndRestore adds to every epoch: saving the weights and the optimizer state."""
    import time

    from transfer_study.models.build import build_model
    from transfer_study.training.compiling import compile_model

    model = build_model(experiment, experiment["num_classes"])
    compile_model(model, experiment)
    model.optimizer.build(model.trainable_variables)
    seconds = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeats):
            started = time.perf_counter()
            model.save_weights(Path(folder) / "latest.weights.h5")
            seconds.append(time.perf_counter() - started)
    return median(seconds)


WARM_UP_EPOCHS = 2


def input_pipeline_seconds_per_step(steps: int = 256, epochs: int = 4) -> dict:
    """What feeding batches through ShuffledBatches (a PyDataset) costs per step over NumPy arrays.

    A tiny model (one Dense layer on 512 features, what a cached stage-1 run trains), so that the step
    itself costs next to nothing and the difference is the input pipeline.
    """
    import keras
    import numpy as np

    from transfer_study.training.loop import ShuffledBatches

    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * 32, 512)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, len(x))]
    measured = {}
    for name in ("numpy arrays", "ShuffledBatches"):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((512,)), keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        clock = EpochClock()
        data = (ShuffledBatches(x, y, 32, 0),) if name == "ShuffledBatches" else (x, y)
        model.fit(*data, batch_size=32, epochs=epochs, shuffle=False, verbose=0, callbacks=[clock])
        measured[name] = {
            "wall": median(clock.seconds()[WARM_UP_EPOCHS:]) / steps,
            "cpu": median(clock.cpu_seconds()[WARM_UP_EPOCHS:]) / steps,
        }
    return measured


def main(quick: bool) -> None:
    train_images, epochs, repeats = (1024, 4, 2) if quick else (4096, 8, 2)
    arrays = synthetic_cifar(train_images, train_images // 4)
    experiment = {**stage_3(), "epochs": epochs}
    runs = {"bare model.fit": [], "train()": []}
    for _ in range(repeats):
        runs["bare model.fit"].append(bare_fit(experiment, arrays))
        runs["train()"].append(our_train(experiment, arrays))

    def steady(name, clock):
        return median([s for run in runs[name] for s in run[clock][WARM_UP_EPOCHS:]])

    overhead = {
        clock: steady("train()", clock) / steady("bare model.fit", clock) - 1 for clock in ("wall", "cpu")
    }
    backup = backup_seconds(experiment)
    pipeline = input_pipeline_seconds_per_step()
    ours_, bare_ = pipeline["ShuffledBatches"], pipeline["numpy arrays"]
    per_step = {clock: ours_[clock] - bare_[clock] for clock in ("wall", "cpu")}
    results = {
        "title": "Training overhead: train() against a bare model.fit",
        "machine": machine(),
        "setup": {
            "experiment": experiment,
            "train_images": train_images,
            "validation_images": train_images // 4,
            "repeats": repeats,
            "warm_up_epochs_left_out": WARM_UP_EPOCHS,
            "quick": quick,
        },
        "epoch_seconds": runs,
        "median_steady_epoch_seconds": {
            name: {clock: steady(name, clock) for clock in ("wall", "cpu")} for name in runs
        },
        "overhead": overhead,
        "backup_save_seconds": backup,
        "input_pipeline_seconds_per_step": pipeline,
        "goal": "at most 5 % over the bare fit",
    }
    table = markdown_table(
        ["what", "wall s/epoch (median)", "CPU s/epoch (median)"],
        [[name, steady(name, "wall"), steady(name, "cpu")] for name in runs],
    )
    table += (
        f"\n\nOverhead of train(): {overhead['wall'] * 100:+.1f} % wall time, {overhead['cpu'] * 100:+.1f} % "
        f"CPU time (goal: at most +5 %). Saving the backup (weights and optimizer state, every epoch) takes "
        f"{backup:.2f} s, a fixed cost per epoch whatever the number of images. Feeding batches through "
        f"ShuffledBatches instead of NumPy arrays costs {per_step['wall'] * 1000:.2f} ms wall "
        f"({per_step['cpu'] * 1000:.2f} ms CPU) per step (measured on a one-layer model)."
    )
    notes = [
        f"SqueezeNet v1.1, every layer training, 32x32 px, {train_images} training and "
        f"{train_images // 4} validation images, batch 32, {epochs} epochs per run (the first "
        f"{WARM_UP_EPOCHS} left out), {repeats} runs of each side, alternating.",
    ]
    write_results("training_overhead", results, table, notes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and epochs")
    main(parser.parse_args().quick)
