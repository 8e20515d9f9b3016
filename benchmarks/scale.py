"""Cost against size: the preprocessing job on ever larger folders of photos, its seconds, images per
second and peak memory, and those of another checkout beside it in the same run.

Each size is a pooled image_folder source of N synthetic 224-px JPEGs (10 class folders, about the beans
photos' detail), preprocessed to 224 px in a process of its own as `scripts/preprocess.py` does it
(`preprocess_dataset` with the job's threads and its scratch folder, then `save_arrays`). Two peaks, as
in benchmarks/memory.py: peak RSS (VmHWM, which counts the pages of mapped files the job touched: the
kernel takes those back when memory is short) and the peak of what the job holds (RssAnon + RssShmem,
sampled every 20 ms: its own memory, and the shared anonymous mapping forked decoders write into, which
the kernel cannot drop either). A third, sampled from outside every 50 ms, is the whole process tree's
proportional memory (Pss_Anon + Pss_Shmem of the job and its forked decoders, each shared page counted
once): what the decoders hold of their own, which the job's own status does not show. What it holds
should not grow with the number of images.

`--compare DIR` runs the same folders through another checkout's `src/` (a worktree of main before a
change), alternating with this one, so that both see the same load (up to 10,000 images). `--pack zip`
packs each folder into a zip (stored, as cameras' JPEGs are zipped), `--pack tar` or `--pack tar.gz`
into a tar, and preprocesses that instead (`--zip` is `--pack zip`). The other
sweeps of cost against size are `benchmarks/planning.py` (planning seconds and per-file cost against
folder size), `benchmarks/preprocessing.py` (images per second against workers) and
`benchmarks/memory.py` (each model job's peak memory against the number of images).

    python benchmarks/scale.py [--quick] [--large] [--threads N] [--compare DIR] [--pack zip|tar|tar.gz]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peaks import PeakSampler, status_kb, tree_pss_kb

REPO = Path(__file__).resolve().parents[1]
CLASSES = [f"class{index}" for index in range(10)]
SIZE = 224
# The compared checkout runs up to this many images: main before issue 28 held every decoded image, and a
# copy of each split, in memory (3.3 GB at 10,000).
COMPARED_UP_TO = 10_000


def make_photos(root: Path, count: int) -> Path:
    """`count` JPEGs of 224 x 224 (quality 90) over the class folders: 64 noise images, encoded once
    and written in turn, so that making 100,000 takes a minute or two."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    base = []
    for _ in range(64):
        pixels = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        pixels[::4] //= 2
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
        base.append(buffer.getvalue())
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        path = root / CLASSES[index % len(CLASSES)] / f"{index:07d}.jpg"
        # Four bytes after the JPEG's end marker: every file differs, and every one still decodes.
        path.write_bytes(base[index % len(base)] + index.to_bytes(4, "little"))
    return root


def packed(folder: Path, kind: str) -> Path:
    """The folder's files in an archive beside it (a stored zip, a tar or a tar.gz); the folder is emptied
    as they go in."""
    import tarfile
    import zipfile

    archive = folder.with_name(f"{folder.name}.{kind}")
    files = sorted(folder.rglob("*.jpg"))
    if kind == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as packing:
            for path in files:
                packing.write(path, path.relative_to(folder).as_posix())
                path.unlink()
    else:
        with tarfile.open(archive, "w:gz" if kind == "tar.gz" else "w") as packing:
            for path in files:
                packing.add(path, path.relative_to(folder).as_posix())
                path.unlink()
    return archive


def child(source: Path, output: Path, threads: int) -> dict:
    """The preprocess job's work on `source`, with this process's transfer_study; its time and peaks."""
    from transfer_study.data.arrays import save_arrays
    from transfer_study.data.preprocessing import preprocess_dataset

    # What the job holds that the kernel cannot drop: its own memory, and shared anonymous mappings (as
    # the forked decoders wrote into before), which count as RssShmem.
    peak = PeakSampler(("RssAnon", "RssShmem"))
    started = time.perf_counter()
    dataset = {"format": "image_folder", "validation_fraction": 0.1, "test_fraction": 0.1}
    options = {"workers": threads}
    if "scratch" in inspect.signature(preprocess_dataset).parameters:  # as the job calls it, where it can
        options["scratch"] = output.parent
    arrays, stats = preprocess_dataset(dataset, {"pool": source}, SIZE, **options)
    save_arrays(output, arrays, stats["class_names"])
    images = sum(stats["splits"][split]["total"] for split in ("train", "validation", "test"))
    return {
        "images": images,
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": status_kb("VmHWM") / 1024,
        "peak_held_mb": peak.stop() / 1024,
        "file_mb": output.stat().st_size / 1e6,
        "package": str(Path(inspect.getfile(preprocess_dataset)).parents[2]),
    }


def measure(checkout: Path, source: Path, folder: Path, threads: int) -> dict:
    output = folder / "data.npz"
    environment = {**os.environ, "PYTHONPATH": str(checkout / "src")}
    command = [sys.executable, __file__, "--child", str(source), str(output), str(threads)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    ) as job:
        # The whole tree's memory, sampled from outside: what the job and its decoders hold together.
        peak_tree = 0
        while job.poll() is None:
            peak_tree = max(peak_tree, tree_pss_kb(job.pid))
            time.sleep(0.05)
        stdout, stderr = job.communicate()
    output.unlink(missing_ok=True)
    if job.returncode:  # recorded, not fatal: an older checkout may refuse a size this one reads
        print(f"preprocessing {source} with {checkout} failed:\n{stderr[-3000:]}", file=sys.stderr)
        return {"failed": (stderr.strip().splitlines() or ["no message"])[-1][:300]}
    return {**json.loads(stdout.strip().splitlines()[-1]), "peak_tree_pss_mb": peak_tree / 1024}


def main(quick: bool, large: bool, threads: int, compare: Path | None, pack: str | None) -> None:
    # Imported here: common puts this checkout's src/ first on the path, which the children must not get.
    from common import machine, markdown_table, write_results

    counts = [1_000] if quick else [1_000, 10_000] + ([100_000] if large else [])
    checkouts = [("this checkout", REPO)] + ([("compared", compare.resolve())] if compare else [])
    rows = []
    # On the disk of the results (git-ignored), not /tmp: 100,000 images make a 15 GB file.
    (REPO / "benchmarks/results").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=REPO / "benchmarks/results") as scratch:
        for turn, count in enumerate(counts):
            folder = make_photos(Path(scratch) / f"photos-{count}", count)
            source = packed(folder, pack) if pack else folder
            # The first run after the photos are written also meets the kernel writing them out: the
            # checkouts take turns at going first.
            for label, checkout in checkouts[::-1] if turn % 2 else checkouts:
                if label == "compared" and count > COMPARED_UP_TO:
                    continue  # a checkout that holds the images in memory would need 30 GB here
                measured = measure(checkout, source, Path(scratch), threads)
                kind = pack or "folder"
                row = {"checkout": label, "source": kind, "files": count, "threads": threads, **measured}
                if "failed" not in measured:
                    row["images_per_second"] = measured["images"] / measured["seconds"]
                    row["held_kb_per_image"] = measured["peak_held_mb"] * 1024 / measured["images"]
                rows.append(row)
                print(json.dumps(row), flush=True)
            for path in sorted(folder.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
            if pack:
                source.unlink()
    columns = ["checkout", "source", "files", "images", "seconds", "images_per_second", "peak_rss_mb",
               "peak_held_mb", "held_kb_per_image", "peak_tree_pss_mb", "file_mb"]  # fmt: skip
    table = markdown_table(columns, [[row.get(column, "–") for column in columns] for row in rows])
    notes = [
        f"{row['checkout']}, {row['files']:,} files: failed: {row['failed']}"
        for row in rows
        if "failed" in row
    ]
    results = {
        "title": f"Preprocessing 224-px photos against their number ({threads} threads)",
        "machine": machine(with_keras=False),
        "compared": str(compare) if compare else None,
        "rows": rows,
    }
    write_results("scale", results, table, notes)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        source, output, threads = sys.argv[2:5]
        print(json.dumps(child(Path(source), Path(output), int(threads))))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--quick", action="store_true", help="1,000 images only")
        parser.add_argument("--large", action="store_true", help="add 100,000 images (about 15 GB decoded)")
        parser.add_argument("--threads", type=int, default=2, help="the job's threads (default 2)")
        parser.add_argument("--compare", type=Path, help="another checkout to run beside this one")
        parser.add_argument(
            "--pack", choices=["zip", "tar", "tar.gz"], help="preprocess each folder packed so"
        )
        parser.add_argument("--zip", dest="pack", action="store_const", const="zip", help="--pack zip")
        main(**vars(parser.parse_args()))
