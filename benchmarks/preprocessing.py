"""(b) Preprocessing throughput: beans-sized JPEGs (500x500) decoded and resized to 224x224 px, in
images per second, with the project's own functions (transfer_study.data.datasets): `decode_many`
on one process and on every core, and `read_beans_split` on a zip archive (reading, checking and
decoding members). Then the CIFAR-10 JPEGs (../shared/data/cifar10-jpeg, 60,000 files of 32 px; 4,000
synthetic ones of that size where it is absent) through `decode_into` on 1 and on every core, the
arrays compared bit for bit.

The JPEGs are synthetic (smooth colour fields with leaf-like noise, quality 90, about the size of the
real files); decoding cost depends on the pixel count and the quality much more than on the content.

    python benchmarks/preprocessing.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from common import machine, markdown_table, median, write_results
from PIL import Image

from transfer_study.data.datasets import decode_into, decode_many
from transfer_study.data.formats.beans_zip import read_beans_split

CIFAR_JPEG = Path(__file__).resolve().parents[2] / "shared/data/cifar10-jpeg"

CLASSES = ["angular_leaf_spot", "bean_rust", "healthy"]


def synthetic_jpeg(rng: np.random.Generator, side: int = 500) -> bytes:
    coarse = rng.integers(30, 220, (8, 8, 3), dtype=np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize((side, side), Image.Resampling.BICUBIC), dtype=np.int16)
    noise = rng.normal(0, 12, (side, side, 3))
    pixels = np.clip(field + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def cifar_blobs(quick: bool) -> tuple[list[bytes], str]:
    """The CIFAR-10 JPEGs where ../shared has them, else synthetic 32-px JPEGs."""
    if CIFAR_JPEG.is_dir():
        blobs = []
        for name in ("train.zip", "test.zip"):
            with zipfile.ZipFile(CIFAR_JPEG / name) as archive:
                blobs += [archive.read(n) for n in archive.namelist() if n.endswith(".jpg")]
        return (blobs[:10_000] if quick else blobs), "CIFAR-10 JPEGs"
    rng = np.random.default_rng(1)
    return [synthetic_jpeg(rng, side=32) for _ in range(4000)], "synthetic 32-px JPEGs"


def timed(function, repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return seconds


def main(quick: bool) -> None:
    count, repeats = (128, 2) if quick else (512, 3)
    rng = np.random.default_rng(0)
    blobs = [synthetic_jpeg(rng) for _ in range(count)]
    cores = os.cpu_count() or 1
    rows, measured = [], {}
    for workers in sorted({1, cores}):
        seconds = timed(lambda w=workers: decode_many(blobs, 224, workers=w), repeats)
        measured[f"decode_many, {workers} worker(s)"] = seconds
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "train.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as handle:
            for index, blob in enumerate(blobs):
                handle.writestr(f"train/{CLASSES[index % 3]}/image_{index:05d}.jpg", blob)
        seconds = timed(lambda: read_beans_split(archive, "train", CLASSES, 224, workers=cores), repeats)
        measured[f"read_beans_split (zip), {cores} worker(s)"] = seconds
    for name, seconds in measured.items():
        rows.append([name, count / median(seconds), median(seconds)])
    small, where = cifar_blobs(quick)
    cifar_seconds = {}
    for workers in sorted({1, cores}):
        cifar_seconds[workers] = timed(lambda w=workers: decode_into(small, 32, workers=w), repeats)
        seconds = median(cifar_seconds[workers])
        rows.append([f"decode_into, {where}, {workers} worker(s)", len(small) / seconds, seconds])
    one, _ = decode_into(small, 32, workers=1)
    every, _ = decode_into(small, 32, workers=cores)
    identical = bool(np.array_equal(one, every))
    speedup = median(cifar_seconds[1]) / median(cifar_seconds[cores])
    mean_kib = sum(len(blob) for blob in blobs) / len(blobs) / 1024
    results = {
        "title": "Preprocessing: beans-sized JPEGs (500x500) decoded and resized to 224x224",
        "machine": machine(with_keras=False),
        "setup": {"images": count, "repeats": repeats, "mean_jpeg_kib": mean_kib, "quick": quick},
        "seconds": measured,
        "images_per_second": {row[0]: row[1] for row in rows},
        "cifar": {"images": len(small), "source": where, "seconds": cifar_seconds, "speedup": speedup,
                  "identical": identical},
    }  # fmt: skip
    table = markdown_table(["what", "images/s (median)", "seconds for all"], rows)
    full_beans = 1034 + 133 + 128
    best = max(row[1] for row in rows if not row[0].startswith("decode_into"))
    notes = [
        f"{count} synthetic JPEGs of 500x500 px, {mean_kib:.0f} KiB each on average (the real beans files "
        f"average about 140 KiB); {repeats} repeats, median. At {best:.0f} images/s the {full_beans} "
        f"beans images take about {full_beans / best:.0f} s.",
        f"{where}: {cores} workers decode {speedup:.2f} times as many images per second as one; the "
        f"arrays are {'identical' if identical else 'NOT identical'} bit for bit.",
    ]
    write_results("preprocessing", results, table, notes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images")
    main(parser.parse_args().quick)
