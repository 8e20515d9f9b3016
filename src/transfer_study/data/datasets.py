"""Decoding images, and the readers of the published archives (beans zips, the CIFAR-10 tar).

The dataset formats (data/formats/) read with these functions, and preprocessing.py turns what they
read into one compressed .npz per dataset and size. The readers take members straight from the archive
in memory after archives.py has checked every member, so nothing is extracted to disk. Images are
stored as uint8 (N, size, size, 3) with integer labels; the class names travel in the same file, in
the order the labels count them.
"""

from __future__ import annotations

import io
import logging
import pickle
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from transfer_study.data.archives import iter_tar_files, iter_zip_files
from transfer_study.data.metadata import metadata_reason

SPLITS = ("train", "validation", "test")
# Far above both real data sets (beans ~180 MB, CIFAR-10 ~180 MB uncompressed): a declared size past
# this is a malformed or malicious archive, refused before anything is read, so what an archive puts in
# memory stays below it.
MAX_ARCHIVE_BYTES = 1024**3
# A beans photo has 0.25 megapixels; an image with more than this is refused from its header, before
# Pillow decodes it (Pillow itself only warns up to 179 megapixels).
MAX_IMAGE_PIXELS = 40_000_000

log = logging.getLogger(__name__)


class DatasetError(ValueError):
    """An archive whose content does not fit the dataset described in the config."""


def decode_image(data: bytes, size: int) -> np.ndarray:
    """Decode any image Pillow reads to RGB uint8 (size, size, 3), as an image viewer shows it: turned by
    its EXIF orientation, 16-bit and floating-point pixels scaled to 8 bits, transparency over white.

    Raises ValueError when the bytes are not a complete, decodable image, or when the image has more
    pixels than MAX_IMAGE_PIXELS (checked from the header, before anything is decoded).
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ValueError(
                    f"image too large to decode safely ({image.width} x {image.height} pixels, more than "
                    f"{MAX_IMAGE_PIXELS:,})"
                )
            image.load()
            rgb = _viewer_rgb(_turned(image))
    except ValueError:
        raise
    except Image.DecompressionBombError as error:
        # Pillow refuses images whose pixel count could exhaust memory; skip them like any bad member.
        raise ValueError(f"image too large to decode safely ({error})") from error
    except UnidentifiedImageError as error:
        # Pillow's message names an in-memory buffer by address; keep the reason the same on every run.
        raise ValueError("not a decodable image (unknown format)") from error
    except (OSError, SyntaxError) as error:
        raise ValueError(f"not a decodable image ({error})") from error
    except Exception as error:  # whatever else a malformed file makes Pillow raise: skipped, not fatal
        raise ValueError(f"not a decodable image ({type(error).__name__}: {error})") from error
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def _turned(image: Image.Image) -> Image.Image:
    """The image turned by its EXIF orientation; as stored when that tag cannot be read (malformed EXIF
    makes Pillow raise all sorts of errors), as a viewer would then show it."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        return image


def _viewer_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB the way a viewer renders the image. Pillow's own convert("RGB") clips 16-bit grey to
    white and floats below 1 to black, and drops transparency to whatever colour the pixels hold."""
    if image.mode.startswith("I") or image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if image.mode == "F":
            # Floating-point images are 0..1 when they fit there, else 0..255.
            scale = 255.0 if values.size and np.nanmin(values) >= 0 and np.nanmax(values) <= 1 else 1.0
        else:
            # 16-bit data (I;16*, or I holding 16-bit values) spans 0..65535.
            scale = 255.0 / 65535 if image.mode.startswith("I;16") or np.max(values, initial=0) > 255 else 1.0
        grey = np.clip(np.nan_to_num(values * scale), 0, 255).round().astype(np.uint8)
        return Image.fromarray(np.stack([grey] * 3, axis=-1), mode="RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


def _decode_or_reason(job: tuple[bytes, int]) -> np.ndarray | str:
    data, size = job
    try:
        return decode_image(data, size)
    except ValueError as error:
        return str(error)


def decode_many(blobs: list[bytes], size: int, workers: int = 1) -> list[np.ndarray | str]:
    """Decode in order on `workers` processes; a failure comes back as its reason, never raises."""
    images, reasons = decode_into(blobs, size, workers)
    return [reasons[index] if index in reasons else images[index] for index in range(len(blobs))]


# What the forked decoding processes share with the parent: the blobs (inherited, never pickled) and
# the output images (an anonymous shared mapping each process writes its slots of).
_SHARED: dict = {}
# Fewer images than this are decoded in the job's own process: starting workers would cost more.
PARALLEL_FROM = 256


def decode_into(blobs: list[bytes], size: int, workers: int = 1) -> tuple[np.ndarray, dict[int, str]]:
    """All blobs decoded into one uint8 array (N, size, size, 3), in order, and {index: reason} of those
    that do not decode (their slots left black). Never raises for a bad image.

    With `workers` > 1 (and where processes can be forked), the blobs are split in contiguous ranges
    over that many processes, which inherit them and write each image straight into shared memory:
    pickling the decoded images back, as a process pool would, costs as much as a third of the gain.
    The images are the same, bit for bit, however many workers decode them."""
    import mmap
    import multiprocessing

    count = len(blobs)
    image_bytes = size * size * 3
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if workers <= 1 or count < PARALLEL_FROM or not forkable:
        images = np.zeros((count, size, size, 3), dtype=np.uint8)
        reasons = {}
        for index, blob in enumerate(blobs):
            result = _decode_or_reason((blob, size))
            if isinstance(result, str):
                reasons[index] = result
            else:
                images[index] = result
        return images, reasons
    shared = mmap.mmap(-1, max(1, count * image_bytes))  # MAP_SHARED | MAP_ANONYMOUS: seen by the forks
    images = np.frombuffer(shared, dtype=np.uint8, count=count * image_bytes).reshape(count, size, size, 3)
    bounds = np.linspace(0, count, workers * 4 + 1).astype(int)  # a few ranges per worker, to even out
    _SHARED.update(blobs=blobs, size=size, images=images)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            found = pool.map(_decode_range, zip(bounds[:-1], bounds[1:], strict=True))
            reasons = {index: why for part in found for index, why in part.items()}
    finally:
        _SHARED.clear()
    return images, reasons


def _decode_range(bounds: tuple[int, int]) -> dict[int, str]:
    """In a forked worker: decode blobs[start:stop] into the shared images; the failures' reasons."""
    start, stop = bounds
    blobs, size, images = _SHARED["blobs"], _SHARED["size"], _SHARED["images"]
    reasons = {}
    for index in range(start, stop):
        result = _decode_or_reason((blobs[index], size))
        if isinstance(result, str):
            reasons[index] = result
        else:
            images[index] = result
    return reasons


def _beans_member_class(name: str) -> str | None:
    parts = PurePosixPath(name).parts
    # <split>/<class>/<file>; anything shallower is not an image of a class folder.
    return parts[-2] if len(parts) >= 3 else None


def read_beans_split(
    archive: Path, split: str, class_names: list[str], size: int, workers: int = 1
) -> tuple[np.ndarray, np.ndarray, list[dict], list[str]]:
    """Images and labels of one beans split archive, the members skipped and why, and the members kept."""
    members = sorted(iter_zip_files(archive, max_total_bytes=MAX_ARCHIVE_BYTES))
    skipped, kept = [], []
    for name, data in members:
        parts = PurePosixPath(name).parts
        if (reason := metadata_reason(name)) is not None:
            skipped.append({"archive": archive.name, "member": name, "reason": reason})
            continue
        label = _beans_member_class(name)
        if label is not None and parts[-3] != split:
            raise DatasetError(
                f"{archive}: member {name!r} sits under {parts[-3]}/, but this archive is read as the "
                f"{split} split, whose images sit in {split}/<class>/. Check datasets.*.splits.{split} in "
                "the config: it may name another split's archive."
            )
        if label is None:
            skipped.append({"archive": archive.name, "member": name, "reason": "not in a class folder"})
            continue
        if label not in class_names:
            raise DatasetError(
                f"{archive}: member {name!r} is in class folder {label!r}, which the config does not "
                f"list (datasets.*.class_names: {', '.join(class_names)}). Add the class to the "
                "config or check that this is the right archive."
            )
        kept.append((name, class_names.index(label), data))
    x, y, names = decode_members(kept, size, workers, archive.name, skipped)
    require_every_class(y, class_names, f"{archive} ({split})")
    return x, y, skipped, names


def decode_members(
    kept: list[tuple[str, int, bytes]], size: int, workers: int, source_name: str, skipped: list[dict]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode (member, label, bytes) in order: images, labels and the names of the members kept; every
    member that does not decode is appended to `skipped` with its reason and logged."""
    images, reasons = decode_into([data for _, _, data in kept], size, workers)
    for index, reason in sorted(reasons.items()):
        skipped.append({"archive": source_name, "member": kept[index][0], "reason": reason})
        log.warning("%s: skipped %s: %s", source_name, kept[index][0], reason)
    if reasons:  # a copy without the failures' slots; otherwise the decoded array as it is
        images = np.delete(images, sorted(reasons), axis=0)
    labels = [label for index, (_, label, _) in enumerate(kept) if index not in reasons]
    names = [name for index, (name, _, _) in enumerate(kept) if index not in reasons]
    return images, np.asarray(labels, dtype=np.int64), names


def require_every_class(labels: np.ndarray, class_names: list[str], where: str) -> None:
    missing = sorted(set(class_names) - {class_names[label] for label in labels})
    if missing:
        raise DatasetError(
            f"{where}: no usable image of class(es) {', '.join(missing)}; every split "
            "needs every class of datasets.*.class_names."
        )


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler for what a CIFAR-10 batch holds and nothing else.

    A batch is a dict of bytes, lists, ints and one NumPy array; a pickle can name any importable
    callable, and loading it calls that. Only the three NumPy names an array needs (under NumPy 1's and
    NumPy 2's module paths) and Python 3's latin-1 encoding of bytes are let through, so a wrong or
    hostile file can fail to load but cannot run code, whatever its checksum.
    """

    def find_class(self, module, name):
        from numpy._core.multiarray import _reconstruct

        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): _latin1_encode,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refers to {module}.{name}, which a CIFAR-10 batch never holds")
        return allowed[(module, name)]


def _latin1_encode(text, encoding="latin-1"):
    """How a Python 3 protocol-2 pickle stores bytes; any other encoding is refused."""
    if not isinstance(text, str) or encoding.lower().replace("_", "-") not in ("latin-1", "latin1"):
        raise pickle.UnpicklingError(f"encodes with {encoding!r}, not latin-1")
    return text.encode("latin-1")


CIFAR_ROW_BYTES = 3 * 32 * 32


def _unpickle(data: bytes, archive: Path, member: str) -> dict:
    """One CIFAR-10 batch, checked: a dict whose `data` is uint8 rows of 3072 bytes and whose `labels`
    are as many ints from 0 to 9. Anything else is a DatasetError naming the archive and the member."""

    def wrong(what: str) -> DatasetError:
        return DatasetError(f"{archive}: member {member} is not a CIFAR-10 batch: {what}")

    try:
        batch = _CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as error:
        raise wrong(f"it does not load ({type(error).__name__}: {error})") from None
    if not isinstance(batch, dict):
        raise wrong(f"it holds a {type(batch).__name__}, not a dict")
    batch = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
    missing = [key for key in ("data", "labels") if key not in batch]
    if missing:
        raise wrong(f"no {' or '.join(missing)} entry (it has {', '.join(map(str, batch)) or 'none'})")
    rows, labels = batch["data"], batch["labels"]
    if not isinstance(rows, np.ndarray) or rows.dtype != np.uint8 or rows.ndim != 2:
        raise wrong("its data is not a two-dimensional uint8 array")
    if rows.shape[1] != CIFAR_ROW_BYTES:
        raise wrong(f"its rows hold {rows.shape[1]} bytes, not {CIFAR_ROW_BYTES} (32 x 32 x 3)")
    if not isinstance(labels, list) or not all(isinstance(label, int) for label in labels):
        raise wrong("its labels are not a list of integers")
    if len(labels) != len(rows):
        raise wrong(f"{len(labels)} labels for {len(rows)} images")
    if labels and not 0 <= min(labels) <= max(labels) <= 9:
        raise wrong(f"labels run from {min(labels)} to {max(labels)}, not 0 to 9")
    return batch


def _cifar_images(batch: dict, size: int) -> np.ndarray:
    images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    if size == 32:
        return np.ascontiguousarray(images)
    return np.stack([decode_resized(image, size) for image in images])


def decode_resized(image: np.ndarray, size: int) -> np.ndarray:
    resized = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def read_cifar10(archive: Path, size: int) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """The official training batches (1-5, in order) and the test batch of cifar-10-python.tar.gz:
    images, labels and each image's name (<batch>/<its file name in the batch>, or its index there)."""
    batches = {
        PurePosixPath(name).name: data
        for name, data in iter_tar_files(archive, max_total_bytes=MAX_ARCHIVE_BYTES)
        if PurePosixPath(name).name.startswith(("data_batch_", "test_batch"))
    }
    train_names = [f"data_batch_{i}" for i in range(1, 6)]
    missing = [name for name in [*train_names, "test_batch"] if name not in batches]
    if missing:
        raise DatasetError(f"{archive}: missing CIFAR-10 batch(es) {', '.join(missing)}")
    parts = {"train": [(name, _unpickle(batches[name], archive, name)) for name in train_names]}
    parts["test"] = [("test_batch", _unpickle(batches["test_batch"], archive, "test_batch"))]
    return {
        split: (
            np.concatenate([_cifar_images(batch, size) for _, batch in group]),
            np.concatenate([np.asarray(batch["labels"], dtype=np.int64) for _, batch in group]),
            [f"{name}/{image}" for name, batch in group for image in _cifar_image_names(batch)],
        )
        for split, group in parts.items()
    }


def _cifar_image_names(batch: dict) -> list[str]:
    """The batch's own file names where it has them as text, one per image; else the images' indices."""
    names = batch.get("filenames")
    if isinstance(names, list) and len(names) == len(batch["labels"]):
        decoded = [name.decode("utf-8", "replace") if isinstance(name, bytes) else name for name in names]
        if all(isinstance(name, str) for name in decoded):
            return decoded
    return [str(index) for index in range(len(batch["labels"]))]


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): `fraction` of every class held out, the same for the same seed."""
    rng = np.random.default_rng(seed)
    held_out = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = int(round(len(members) * fraction))
        held_out.append(rng.permutation(members)[:count])
    validation = np.sort(np.concatenate(held_out))
    train = np.setdiff1d(np.arange(len(labels)), validation)
    return train, validation


def split_counts(labels: np.ndarray, class_names: list[str]) -> dict:
    counts = Counter(int(label) for label in labels)
    return {
        "total": int(len(labels)),
        "per_class": {name: counts.get(index, 0) for index, name in enumerate(class_names)},
    }


def duplicates_across_splits(arrays: dict[str, np.ndarray]) -> dict[str, int]:
    """How many images of one split are pixel for pixel an image of another, per pair of splits: a
    test image that is also a training image says less about the model than the accuracy suggests."""
    import hashlib

    digests = {
        split: {hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in arrays[f"x_{split}"]}
        for split in SPLITS
    }
    return {
        f"{first}-{second}": len(digests[first] & digests[second])
        for index, first in enumerate(SPLITS)
        for second in SPLITS[index + 1 :]
    }
