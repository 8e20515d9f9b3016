"""(h) Memory of the model jobs: each training and evaluation's peak, beside the `mem_mb` it declares.

Each case runs in a process of its own, as a job would: the preprocessed file written with the real
writer (synthetic images of the experiment's size), opened with load_arrays (the images mapped from the
file), then transfer_study.training.loop.train() for one epoch, or evaluate_model() on a saved model.
Two numbers per job:

- peak RSS (VmHWM): what `benchmark:` files and `top` show. It counts the pages of the mapped images a
  job has touched, which the kernel drops when memory is short and the jobs reading one file share;
- peak anonymous memory (RssAnon, sampled every 20 ms): what the job itself holds, the number the
  scheduler has to leave room for.

The images cases (`--images`) show whether memory grows with the data set: the same model and batch on
1,000 and 10,000 images (100,000 with --large, a 15 GB file at 224 px).

    python benchmarks/memory.py [--quick] [--large] [--only TEXT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, markdown_table, study_spec, write_results
from peaks import PeakSampler, status_kb

EVALUATION_BATCH = 256  # rules/evaluate.smk


def write_synthetic(path: Path, size: int, train: int, validation: int, test: int, classes: int) -> None:
    """A preprocessed file as save_arrays writes it, of random images. The images are drawn into .npy
    files beside it a thousand at a time and written from those maps (NumPy writes an array into the
    .npz in chunks), so that 100,000 images at 224 px need no 15 GB of memory here."""
    import numpy as np

    from transfer_study.data.arrays import save_arrays

    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in (("train", train), ("validation", validation), ("test", test)):
        images = np.lib.format.open_memmap(
            path.with_name(f"{split}.npy"), mode="w+", dtype=np.uint8, shape=(count, size, size, 3)
        )
        for start in range(0, count, 1000):
            stop = min(count, start + 1000)
            images[start:stop] = rng.integers(0, 256, (stop - start, size, size, 3), dtype=np.uint8)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images, np.arange(count) % classes
    save_arrays(path, arrays, [f"class{i}" for i in range(classes)])
    for split in ("train", "validation", "test"):
        path.with_name(f"{split}.npy").unlink()


def child(job: str, experiment: dict, folder: Path) -> dict:
    """One job in this process; its peaks in MB."""
    from transfer_study.data.arrays import load_arrays
    from transfer_study.training.runtime import make_deterministic

    peak = PeakSampler()  # RssAnon
    started = time.perf_counter()
    make_deterministic(0)
    if job == "train":
        from transfer_study.training.history import write_history
        from transfer_study.training.loop import save_model_atomically, train

        arrays = load_arrays(folder / "data.npz", prefixes=("x_", "y_"))
        model, history, summary = train(experiment, 0, arrays, None, folder / "backup", log=lambda _: None)
        save_model_atomically(model, folder / "model.keras")
        write_history(folder / "history.csv", history)
        (folder / "train.json").write_text(json.dumps(summary))
    else:
        from transfer_study.training.evaluation import evaluate_model

        summary = json.loads((folder / "train.json").read_text())
        evaluate_model(
            folder / "model.keras", load_arrays(folder / "data.npz"), folder / "history.csv", summary,
            batch_size=EVALUATION_BATCH, predictions_path=folder / "predictions.csv",
        )  # fmt: skip
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": status_kb("VmHWM") / 1024,
        "peak_anonymous_mb": peak.stop() / 1024,
    }


def run_case(name: str, experiment: dict, images: int) -> list[dict]:
    from transfer_study.models.memory import model_job_mb

    experiment = {**experiment, "epochs": 1, "early_stopping": None}
    size, batch = experiment["image_size"], experiment["batch_size"]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        # At least two evaluation batches, so that every case's batches are full.
        validation = test = max(images // 8, 512)
        write_synthetic(folder / "data.npz", size, images, validation, test, experiment["num_classes"])
        for job in ("train", "evaluate"):
            spec = json.dumps(experiment)
            out = subprocess.run(
                [sys.executable, __file__, "--child", job, spec, str(folder)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode:
                raise SystemExit(f"{name} {job} failed:\n{out.stderr[-3000:]}")
            measured = json.loads(out.stdout.strip().splitlines()[-1])
            trains = job == "train"
            declared = model_job_mb(experiment, trains, batch_size=None if trains else EVALUATION_BATCH)
            rows.append(
                {"case": name, "job": job, "model": experiment["model"], "image_size": size,
                 "batch_size": batch if trains else EVALUATION_BATCH,
                 "trainable": str(experiment["trainable"]), "images": images, **measured,
                 "declared_mem_mb": declared}
            )  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main(quick: bool, large: bool, only: str | None) -> None:
    cases = [
        ("beans-3c", study_spec("beans-3c"), 64),  # VGG16, 224 px, every layer trains
        ("beans-2", study_spec("beans-2"), 64),  # VGG16 frozen: the cached features train the head
        ("cifar10-stage3", study_spec("cifar10-stage3"), 1000),  # SqueezeNet, 32 px
    ]
    # The same SqueezeNet at 224 px, frozen, on ever more images: memory must not follow the count.
    squeeze = {**study_spec("cifar10-stage1"), "image_size": 224}
    counts = [1000] if quick else [1000, 10000] + ([100000] if large else [])
    cases += [(f"squeezenet-224-frozen-{n}", squeeze, n) for n in counts]
    if quick:
        cases = cases[2:]
    if only:
        cases = [case for case in cases if only in case[0]]
    rows = [row for name, experiment, images in cases for row in run_case(name, experiment, images)]
    columns = ["case", "job", "images", "seconds", "peak_rss_mb", "peak_anonymous_mb", "declared_mem_mb"]
    table = markdown_table(columns, [[row[column] for column in columns] for row in rows])
    title = "(h) Peak memory of the model jobs against the mem_mb they declare"
    write_results("memory", {"title": title, "machine": machine(), "rows": rows}, table)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        job, spec, folder = sys.argv[2:5]
        print(json.dumps(child(job, json.loads(spec), Path(folder))))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--quick", action="store_true", help="the SqueezeNet cases on 1,000 images only")
        parser.add_argument("--large", action="store_true", help="add 100,000 images at 224 px (15 GB)")
        parser.add_argument("--only", help="only the cases whose name holds this text")
        main(**vars(parser.parse_args()))
