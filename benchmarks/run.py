"""Run every benchmark, one process each, and leave their tables in benchmarks/results/.

    python benchmarks/run.py [--quick] [--only training_overhead,preprocessing,scheduling,...]
    python benchmarks/run.py --only study_epochs        # the study at its real size, for a GPU
    python benchmarks/run.py --only demo_jobs           # where `make demo`'s time goes, per job
    python benchmarks/run.py --only memory              # each model job's peak memory, VGG16 at 224 px
    python benchmarks/run.py --only scale               # preprocessing's time and memory against images

These are measurements to run by hand (not tests): on a GPU machine, the same command measures the GPU
(the frozen-cache benchmark then also compares float32 with the mixed-precision policies). Set
KERAS_BACKEND to measure another backend.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["training_overhead", "preprocessing", "scheduling", "frozen_cache", "job_exit"]
# Run only when named in --only: study_epochs trains every experiment of the study at full size for a
# few epochs (minutes on a GPU, hours on a CPU); demo_jobs runs the whole demo workflow; memory
# evaluates VGG16 at 224 px in batches of 256 (about 9 GB, several minutes on a CPU); scale writes and
# preprocesses 11,000 photos (a 1.5 GB file).
ON_REQUEST = ["study_epochs", "demo_jobs", "memory", "scale"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes: minutes, not tens of minutes")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated names")
    arguments = parser.parse_args()
    failed = []
    for name in arguments.only.split(","):
        if name not in BENCHMARKS + ON_REQUEST:
            parser.error(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS + ON_REQUEST)}")
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        command = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if arguments.quick else [])]
        if subprocess.run(command, cwd=HERE).returncode != 0:
            failed.append(name)
        print(f"== {name}: {time.perf_counter() - started:.0f} s", flush=True)
    print(f"results: {HERE / 'results'}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
