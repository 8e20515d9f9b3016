"""(f) What a model job's process pays to exit: a job in miniature (import Keras, build the demo's VGG16
at 32 px, predict one batch, as an evaluation does) run as its own process, with Python's shutdown
collections as before and with skip_final_garbage_collection, the two in turns so that both see the same
machine. The exit is the time from the script's last line to the process being gone.

    python benchmarks/job_exit.py            # 7 rounds of each
    python benchmarks/job_exit.py --quick    # 3 rounds of each
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from common import machine, markdown_table, median, write_results

JOB = """
import sys, time
from transfer_study.training.runtime import prepare_environment, skip_final_garbage_collection
prepare_environment(1)
if sys.argv[1] == "skip":
    skip_final_garbage_collection()
import numpy as np, keras
base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
inputs = keras.Input((32, 32, 3))
model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(base(inputs))))
model.predict(np.zeros((30, 32, 32, 3), "float32"), verbose=0)
print(time.time())
"""
MODES = {"collect": "Python's shutdown collections (before)", "skip": "skip_final_garbage_collection"}


def one_job(mode: str) -> dict:
    started = time.time()
    result = subprocess.run([sys.executable, "-c", JOB, mode], capture_output=True, text=True, check=True)
    ended = time.time()
    last_line = float(result.stdout.split()[-1])
    return {"wall": ended - started, "exit": ended - last_line}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    rounds = 3 if parser.parse_args().quick else 7
    info = machine(with_keras=False)
    samples: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for _ in range(rounds):
        for mode in MODES:
            samples[mode].append(one_job(mode))
    rows, results = [], {}
    for mode, label in MODES.items():
        wall = median(sample["wall"] for sample in samples[mode])
        exit_seconds = median(sample["exit"] for sample in samples[mode])
        results[mode] = {
            "median_wall_seconds": wall,
            "median_exit_seconds": exit_seconds,
            "samples": samples[mode],
        }
        rows.append([label, rounds, round(wall, 2), round(exit_seconds, 2)])
    table = markdown_table(["at exit", "processes", "median wall s", "median exit s"], rows)
    saved = results["collect"]["median_exit_seconds"] - results["skip"]["median_exit_seconds"]
    write_results(
        "job_exit",
        {"title": "A model job's exit", "machine": info, "rounds": rounds, **results},
        table,
        [f"Each model job saves about {saved:.2f} s at exit; the demo runs 60 such jobs."],
    )


if __name__ == "__main__":
    main()
