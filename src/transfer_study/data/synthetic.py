"""Synthetic stand-ins for the real archives, written in exactly the published formats.

The offline demo runs the real extraction and preprocessing code on these files. Every class has its
own shapes and colours, so the images are learnable and the demo's accuracies mean something.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

BEANS_CLASSES = ["angular_leaf_spot", "bean_rust", "healthy"]
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
CIFAR10_SIZE = 32
# A fixed timestamp keeps archive bytes independent of when the demo ran.
ARCHIVE_TIME = (2020, 1, 1, 0, 0, 0)


def _leaf(rng: np.random.Generator, size: int) -> Image.Image:
    green = np.array([60, 140, 50]) + rng.integers(-20, 20, 3)
    pixels = np.clip(green + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def beans_image(label: str, rng: np.random.Generator, size: int) -> Image.Image:
    """A leaf-green square with the marks of its class: angular spots, rust dots, or veins."""
    image = _leaf(rng, size)
    draw = ImageDraw.Draw(image)
    # Marks large and contrasted enough to tell the classes apart at the demo's 32 px.
    if label == "angular_leaf_spot":
        for _ in range(rng.integers(3, 6)):
            cx, cy, r = *rng.integers(0, size, 2), rng.integers(size // 8, size // 4)
            corners = [(cx + rng.integers(-r, r), cy + rng.integers(-r, r)) for _ in range(4)]
            draw.polygon([tuple(map(int, c)) for c in corners], fill=(80, 50, 20))
    elif label == "bean_rust":
        for _ in range(rng.integers(20, 40)):
            cx, cy = rng.integers(0, size, 2)
            r = max(1, size // 20)
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(215, 115, 30))
    else:
        width = max(1, size // 32)
        for offset in range(-size, size, max(4, size // 6)):
            draw.line([(0, offset + size // 2), (size, offset)], fill=(160, 215, 120), width=width)
    return image


def cifar10_image(label: int, rng: np.random.Generator, size: int = CIFAR10_SIZE) -> np.ndarray:
    """A shape of one of ten kinds, with a colour that leans towards its class, on a noisy ground."""
    ground = rng.integers(0, 256, 3)
    pixels = np.clip(ground + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    hue = np.array([(label * 97) % 256, (label * 57 + 80) % 256, (label * 151 + 160) % 256])
    colour = tuple(int(c) for c in np.clip(hue + rng.integers(-30, 30, 3), 0, 255))
    lo, hi = sorted(rng.integers(size // 8, size - size // 8, 2))
    hi = max(hi, lo + size // 3)
    box = [int(lo), int(lo), int(hi), int(hi)]
    kind = label % 10
    if kind == 0:
        draw.ellipse(box, fill=colour)
    elif kind == 1:
        draw.rectangle(box, fill=colour)
    elif kind == 2:
        draw.polygon([(box[0], box[3]), ((box[0] + box[2]) // 2, box[1]), (box[2], box[3])], colour)
    elif kind in (3, 4):
        for step in range(0, size, 4):
            line = [(0, step), (size, step)] if kind == 3 else [(step, 0), (step, size)]
            draw.line(line, fill=colour, width=2)
    elif kind == 5:
        for step in range(-size, size, 5):
            draw.line([(step, 0), (step + size, size)], fill=colour, width=2)
    elif kind == 6:
        middle = (box[0] + box[2]) // 2
        draw.line([(box[0], middle), (box[2], middle)], fill=colour, width=3)
        draw.line([(middle, box[1]), (middle, box[3])], fill=colour, width=3)
    elif kind == 7:
        draw.ellipse(box, outline=colour, width=3)
    elif kind == 8:
        for x in range(0, size, 8):
            for y in range(0, size, 8):
                if (x + y) % 16 == 0:
                    draw.rectangle([x, y, x + 3, y + 3], fill=colour)
    else:
        for _ in range(12):
            cx, cy = rng.integers(0, size, 2)
            draw.ellipse([cx - 1, cy - 1, cx + 1, cy + 1], fill=colour)
    return np.asarray(image, dtype=np.uint8)


def zip_entry(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ARCHIVE_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def write_beans_zip(path: Path, split: str, images_per_class: int, image_size: int, seed: int) -> None:
    """A zip laid out as the published beans archives: <split>/<class>/<class>_<split>.<n>.jpg.

    The training archive also holds one member that is not an image, as the published one does,
    so the demo exercises the skip path.
    """
    rng = np.random.default_rng([seed, SPLITS_INDEX[split]])
    with zipfile.ZipFile(path, "w") as archive:
        for label in BEANS_CLASSES:
            for index in range(images_per_class):
                buffer = io.BytesIO()
                beans_image(label, rng, image_size).save(buffer, format="JPEG", quality=90)
                zip_entry(archive, f"{split}/{label}/{label}_{split}.{index}.jpg", buffer.getvalue())
        if split == "train":
            zip_entry(archive, f"{split}/healthy/notes.txt.jpg", b"not an image\n")


SPLITS_INDEX = {"train": 0, "validation": 1, "test": 2}


def cifar10_arrays(count_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), count_per_class)
    rng.shuffle(labels)
    images = np.stack([cifar10_image(int(label), rng) for label in labels])
    return images, labels


def _cifar_batch(images: np.ndarray, labels: np.ndarray, name: str) -> bytes:
    # The published batches are Python-2 pickles of dicts with bytes keys and rows of 3072 bytes
    # (1024 red, 1024 green, 1024 blue, each row-major).
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    batch = {
        b"batch_label": name.encode(),
        b"labels": [int(label) for label in labels],
        b"data": rows,
        b"filenames": [f"synthetic_{i}.png".encode() for i in range(len(labels))],
    }
    return pickle.dumps(batch, protocol=2)


def _tar_entry(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.mktime((*ARCHIVE_TIME, 0, 0, -1)))
    archive.addfile(info, io.BytesIO(data))


def write_cifar10_tar(path: Path, images_per_class: int, seed: int) -> None:
    """A tar.gz laid out as cifar-10-python.tar.gz: five training batches, a test batch, the meta.

    `images_per_class` is per training batch; the test batch gets as many.
    """
    with tarfile.open(path, "w:gz") as archive:
        meta = {"num_cases_per_batch": images_per_class * 10, "label_names": CIFAR10_CLASSES}
        _tar_entry(archive, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
        for index in range(1, 6):
            images, labels = cifar10_arrays(images_per_class, seed * 100 + index)
            data = _cifar_batch(images, labels, f"training batch {index} of 5")
            _tar_entry(archive, f"cifar-10-batches-py/data_batch_{index}", data)
        images, labels = cifar10_arrays(images_per_class, seed * 100 + 99)
        _tar_entry(archive, "cifar-10-batches-py/test_batch", _cifar_batch(images, labels, "test"))
        _tar_entry(archive, "cifar-10-batches-py/readme.html", b"<p>synthetic demo data</p>\n")
