"""Synthetic stand-ins for the real archives, written in exactly the published formats.

The offline demo runs the real extraction and preprocessing code on these files. Every class has its
own shapes and colours, so the images are learnable and the demo's accuracies mean something.
"""

from __future__ import annotations

import zipfile

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


SPLITS_INDEX = {"train": 0, "validation": 1, "test": 2}


def cifar10_arrays(count_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), count_per_class)
    rng.shuffle(labels)
    images = np.stack([cifar10_image(int(label), rng) for label in labels])
    return images, labels
