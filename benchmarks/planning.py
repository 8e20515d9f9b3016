"""(g) Planning with a directory source: seconds of `snakemake -n` on a study whose images are a folder
of N files (10 class folders, a {pool} layout, the class names read from the folders), against N.

Each size is planned twice: the first call fingerprints every file (its SHA-256, recorded beside the
results), the second finds the record current and only lists and classifies the folder, which is what
every later `snakemake` call of a session pays. The per-file cost is the second call's time above that
of a 100-file folder, divided by the extra files. `--compare DIR` plans the same folders with another
checkout of the workflow too (say, a worktree of main before a change), in the same run, so that both
see the same machine load.

    python benchmarks/planning.py [--quick] [--million] [--compare DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import REPO, machine, markdown_table, write_results

CLASSES = [f"class{index}" for index in range(10)]


def make_folder(root: Path, count: int) -> Path:
    """`count` small files named like photos, spread over the class folders."""
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        path = root / CLASSES[index % len(CLASSES)] / f"{index:07d}.jpg"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(descriptor, index.to_bytes(4, "little"))
        os.close(descriptor)
    return root


def study(folder: Path, results: Path) -> dict:
    """The CIFAR-10 study's three stages, one seed, on the folder as a pooled image_folder dataset."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["results"], config["resources"] = str(results / "results"), str(results / "resources")
    config["seeds"] = [0]
    config["sources"]["photos"] = {"directory": str(folder)}
    config["datasets"] = {
        "cifar10": {"format": "image_folder", "splits": {"pool": "photos"}, "image_size": 32}
    }
    config["experiments"] = {
        name: experiment for name, experiment in config["experiments"].items() if name.startswith("cifar10")
    }
    config["report"] = {"pdf": False}
    return config


def plan_seconds(workflow: Path, config_path: Path) -> float:
    snakemake = Path(sys.executable).with_name("snakemake")
    command = [str(snakemake), "-n", "--quiet", "--cores", "2", "--configfile", str(config_path)]
    started = time.perf_counter()
    subprocess.run(command, cwd=workflow, check=True, capture_output=True)
    return time.perf_counter() - started


def main(quick: bool, million: bool, compare: Path | None) -> None:
    sizes = [100, 1_000, 10_000] if quick else [100, 1_000, 10_000, 100_000]
    if million:
        sizes.append(1_000_000)
    workflows = {"this checkout": REPO} | ({f"compared ({compare})": compare} if compare else {})
    measured: dict[str, dict[int, dict]] = {label: {} for label in workflows}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for count in sizes:
            folder = make_folder(scratch / f"photos-{count}", count)
            for label, workflow in workflows.items():
                if count == 1_000_000 and label != "this checkout":
                    continue  # a quarter of an hour per call before the change; measured at 100k instead
                results = scratch / f"run-{count}-{len(measured[label])}-{label[:4]}"
                config_path = results / "config.yaml"
                results.mkdir()
                config_path.write_text(yaml.safe_dump(study(folder, results)))
                first = plan_seconds(workflow, config_path)
                again = min(plan_seconds(workflow, config_path) for _ in range(2))
                measured[label][count] = {"first": first, "again": again}
                print(f"{label}: {count:,} files: first {first:.2f} s, again {again:.2f} s", flush=True)
            shutil.rmtree(folder)
    rows = []
    for label, by_size in measured.items():
        base = by_size[100]["again"]
        for count, seconds in by_size.items():
            per_file = (seconds["again"] - base) / (count - 100) * 1e6 if count > 100 else None
            rows.append([label, count, seconds["first"], seconds["again"], per_file])
    results = {
        "title": "Planning a study whose images are a folder of N files",
        "machine": machine(with_keras=False),
        "setup": {"sizes": sizes, "classes": len(CLASSES), "experiments": 3, "seeds": 1},
        "seconds": {label: {str(k): v for k, v in by_size.items()} for label, by_size in measured.items()},
    }
    header = ["workflow", "files", "first call s", "later calls s", "per file above 100 files, µs"]
    notes = [
        "`snakemake -n --quiet` on the CIFAR-10 study's three stages (one seed) with a {pool} folder of "
        "N small files in 10 class folders; later calls: the faster of two, the folder's record current."
    ]
    write_results("planning", results, markdown_table(header, rows), notes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="up to 10,000 files")
    parser.add_argument("--million", action="store_true", help="also 1,000,000 files (minutes)")
    parser.add_argument("--compare", type=Path, help="another checkout of the workflow to plan with")
    arguments = parser.parse_args()
    main(arguments.quick, arguments.million, arguments.compare)
