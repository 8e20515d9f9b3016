"""What every dataset format reads with: decoding images (as a viewer shows them), decoding many on
every core, the split and the checks shared by the formats.

Each format's own reader (the beans zips, the CIFAR-10 tar, folders, tables) lives in its module in
data/formats/, so that editing one format's reader reruns only that format's jobs; preprocessing.py
turns what a format reads into one .npz per dataset and size. Readers take members straight from the
archive after archives.py has checked every member: a zip's and a tar's one at a time as they are
decoded (a compressed tar's from an uncompressed copy of its members, made in the one pass that reads
it), the CIFAR-10 python tar's in memory; nothing is extracted as files. Images are uint8 (N, size,
size, 3) with integer labels; the class names travel in the same file, in the order the labels count
them.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from transfer_study.data.archives import TarMember, ZipMember, open_zips, read_member
from transfer_study.data.disk import require_room

SPLITS = ("train", "validation", "test")
# Far above the CIFAR-10 python archive (~180 MB uncompressed), the one format whose archive is read
# whole into memory (archives.iter_tar_files): a declared size past this is a malformed or malicious
# archive, refused before it fills memory.
MAX_ARCHIVE_BYTES = 1024**3
# A zip or tar of images is read one member at a time as its images are decoded
# (archives.list_zip_files, list_tar_files), so its size is no matter of memory: past this declared
# total (a thousand times a million photos) it is taken for a malformed or malicious archive all the same.
MAX_MEMBERWISE_ARCHIVE_BYTES = 1024**4
# A folder's file larger than this is skipped unread: an image of MAX_IMAGE_PIXELS, even uncompressed
# 16-bit RGBA, takes less.
MAX_IMAGE_FILE_BYTES = 512 * 1024**2
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


def _decode_or_reason(job: tuple[bytes | Path, int]) -> np.ndarray | str:
    data, size = job
    try:
        return decode_image(_content(data), size)
    except ValueError as error:
        return str(error)


def _content(data: bytes | Path | ZipMember | TarMember) -> bytes:
    """An image's bytes: given, or read from its file (a folder's) or its archive member, refused from
    its size where no image could be that large, so that nothing is read unbounded."""
    if isinstance(data, (ZipMember, TarMember)):
        return read_member(data, MAX_IMAGE_FILE_BYTES)
    if not isinstance(data, os.PathLike):
        return data
    try:
        with open(data, "rb") as handle:
            # The size first, so that a huge file is refused unread; the bounded read for one that grows.
            too_large = os.fstat(handle.fileno()).st_size > MAX_IMAGE_FILE_BYTES
            content = b"" if too_large else handle.read(MAX_IMAGE_FILE_BYTES + 1)
    except OSError as error:
        raise ValueError(f"could not be read ({error.strerror or error})") from error
    if too_large or len(content) > MAX_IMAGE_FILE_BYTES:
        raise ValueError(f"a file of more than {MAX_IMAGE_FILE_BYTES:,} bytes, too large for an image")
    return content


def decode_many(blobs: list[bytes], size: int, workers: int = 1) -> list[np.ndarray | str]:
    """Decode in order on `workers` processes; a failure comes back as its reason, never raises."""
    images, reasons = decode_into(blobs, size, workers)
    return [reasons[index] if index in reasons else images[index] for index in range(len(blobs))]


# Where image_array keeps what it allocates: None in memory, else a folder for files mapped in its place.
_ON_DISK: list[Path | None] = [None]
# take_rows copies this many bytes of images at a time.
ROWS_CHUNK_BYTES = 64 * 1024**2


@contextmanager
def images_on_disk(folder: Path):
    """Within this block the images decoded and split (image_array, take_rows) are kept in files in
    `folder`, mapped in place of memory: a preprocessing job then holds a chunk of images at a time,
    not the data set (the kernel writes the pages out and takes them back when memory is short).
    Each file is unlinked as soon as it is mapped, so nothing is left behind, even by a killed job."""
    _ON_DISK.append(Path(folder))
    try:
        yield
    finally:
        _ON_DISK.pop()


def scratch_folder() -> Path | None:
    """The folder of the innermost images_on_disk block (None outside one): where preprocessing keeps
    what it must put on disk rather than in memory."""
    return _ON_DISK[-1]


def image_array(shape: tuple[int, ...]) -> np.ndarray:
    """A zeroed uint8 array of `shape`: in memory, or (inside images_on_disk) a shared mapping of a
    file of its own, which processes forked afterwards write into as well."""
    folder = _ON_DISK[-1]
    size = int(np.prod(shape))
    if folder is None or size == 0:
        return np.zeros(shape, dtype=np.uint8)
    # The file is sparse: a disk without room for it would fail only as images are written into the
    # mapping, killing the job with SIGBUS; checked now, it is an error saying so.
    what = f"preprocessing's {shape[0]:,} decoded images ({'x'.join(map(str, shape[1:]))} bytes each)"
    require_room(folder, size, what, "free space there, or write the results to a larger disk")
    handle, name = tempfile.mkstemp(prefix=".images-", suffix=".u8", dir=folder)
    try:
        os.ftruncate(handle, size)  # a sparse file: blocks are taken as images are written
        return np.memmap(name, dtype=np.uint8, mode="r+", shape=shape)
    finally:
        os.close(handle)
        os.unlink(name)  # the mapping keeps the data; the space is freed when it is unmapped


def _rows_per_chunk(images: np.ndarray) -> int:
    """How many rows of `images` make ROWS_CHUNK_BYTES (at least one)."""
    return max(1, ROWS_CHUNK_BYTES // max(1, int(np.prod(images.shape[1:]))))


def take_rows(images: np.ndarray, rows) -> np.ndarray:
    """images[rows] as a new image_array, copied a chunk at a time: a split drawn from mapped images is
    mapped too, never held whole in memory."""
    rows = np.asarray(rows, dtype=np.intp)
    taken = image_array((len(rows), *images.shape[1:]))
    step = _rows_per_chunk(images)
    for start in range(0, len(rows), step):
        taken[start : start + step] = images[rows[start : start + step]]
    return taken


def keep_rows(images: np.ndarray, rows) -> np.ndarray:
    """images[rows] for `rows` in increasing order, moved down in place a chunk at a time: the first
    len(rows) rows of `images` itself, which is spent (its other rows overwritten). Nothing is copied
    elsewhere, so keeping most of a decoded split costs neither memory nor a new file (take_rows for
    the rows drawn out of it, first)."""
    rows = np.asarray(rows, dtype=np.intp)
    if np.any(np.diff(rows) <= 0):
        raise ValueError("keep_rows needs rows in increasing order")
    step = _rows_per_chunk(images)
    # rows[k] >= k: a chunk is gathered before it is written, and lands below every row still to move.
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        images[start : start + len(chunk)] = images[chunk]
    return images[: len(rows)]


# What the forked decoding processes share with the parent: the blobs (inherited, never pickled) and
# the output images (a shared mapping, anonymous or of a file, each process writes its slots of).
_SHARED: dict = {}
# Fewer images than this are decoded in the job's own process: starting workers would cost more.
PARALLEL_FROM = 256


def decode_into(
    blobs: list[bytes | Path | ZipMember | TarMember], size: int, workers: int = 1
) -> tuple[np.ndarray, dict[int, str]]:
    """All blobs (bytes, or files and archive members read one at a time as they are decoded) decoded into
    one uint8 array (N, size, size, 3), in order, and {index: reason} of those that do not decode (their
    slots left black). Never raises for a bad image.

    With `workers` > 1 (and where processes can be forked), the blobs are split in contiguous ranges
    over that many processes, which inherit them and write each image straight into shared memory:
    pickling the decoded images back, as a process pool would, costs as much as a third of the gain.
    The images are the same, bit for bit, however many workers decode them. The zips read stay open
    (archives.close_zips closes them; preprocess_dataset does), so that the splits of one zip share
    its parsed directory."""
    import mmap
    import multiprocessing

    count = len(blobs)
    image_bytes = size * size * 3
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if workers <= 1 or count < PARALLEL_FROM or not forkable:
        images = image_array((count, size, size, 3))
        reasons = {}
        for index, blob in enumerate(blobs):
            result = _decode_or_reason((blob, size))
            if isinstance(result, str):
                reasons[index] = result
            else:
                images[index] = result
        return images, reasons
    if _ON_DISK[-1] is not None:
        images = image_array((count, size, size, 3))  # a file's shared mapping: seen by the forks
    else:
        shared = mmap.mmap(-1, max(1, count * image_bytes))  # MAP_SHARED | MAP_ANONYMOUS: seen by forks
        images = np.frombuffer(shared, dtype=np.uint8, count=count * image_bytes)
        images = images.reshape(count, size, size, 3)
    bounds = np.linspace(0, count, workers * 4 + 1).astype(int)  # a few ranges per worker, to even out
    _SHARED.update(blobs=blobs, size=size, images=images)
    try:
        open_zips(blobs)  # each zip's directory parsed here, once, for every worker forked below
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


def decode_members(
    kept: list[tuple[str, int, bytes]], size: int, workers: int, source_name: str, skipped: list[dict]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode (member, label, bytes) in order: images, labels and the names of the members kept; every
    member that does not decode is appended to `skipped` with its reason and logged."""
    images, reasons = decode_into([data for _, _, data in kept], size, workers)
    for index, reason in sorted(reasons.items()):
        skipped.append({"archive": source_name, "member": kept[index][0], "reason": reason})
        log.warning("%s: skipped %s: %s", source_name, kept[index][0], reason)
    if reasons:  # the failures' slots closed up, in place
        images = keep_rows(images, [index for index in range(len(kept)) if index not in reasons])
    labels = [label for index, (_, label, _) in enumerate(kept) if index not in reasons]
    names = [name for index, (name, _, _) in enumerate(kept) if index not in reasons]
    return images, np.asarray(labels, dtype=np.int64), names


def require_every_class(labels: np.ndarray, class_names: list[str], where: str) -> None:
    missing = sorted(set(class_names) - {class_names[label] for label in labels})
    if missing:
        raise DatasetError(
            f"{where}: no usable image of class(es) {', '.join(missing)}; every split needs every class "
            "of the dataset's class_names: add images of it to that split's source, or leave the class "
            "out of the list"
        )


def decode_resized(image: np.ndarray, size: int) -> np.ndarray:
    resized = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


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
