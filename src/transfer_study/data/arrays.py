"""The preprocessed-dataset file: one .npz of x_/y_<split> arrays, the class names, and where each image
came from (members_<split>: its file or archive member; source_<split>: the source's name).

The members are stored uncompressed, so that `load_arrays` can map the images (x_<split>) from the file
instead of reading them: a job then holds in memory only the batches it reads, however large the data
set, and the page cache shares one copy between the jobs that read the same file. The file stays a
plain .npz that `numpy.load` opens.

Kept apart from data.py so that training and evaluation depend on this file format only, not on the
archive readers (an edit there must not retrain anything).
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np

from transfer_study.files import write_atomically

# Arrays mapped from the file rather than read into memory: the images. Labels and names are small.
MAPPED_PREFIX = "x_"
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then the name's and extra field's lengths
_LOCAL_SIGNATURE = b"PK\x03\x04"
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def save_arrays(path: Path, arrays: dict[str, np.ndarray], class_names: list[str]) -> None:
    """Write under a temporary name first, so a killed job never leaves a truncated file."""

    def write(partial: Path) -> None:
        with open(partial, "wb") as handle:
            np.savez(handle, class_names=np.asarray(class_names), **arrays)

    write_atomically(path, write)


def load_arrays(path: Path, prefixes: tuple[str, ...] | None = None) -> dict:
    """Every array of the file, or those whose names start with one of `prefixes`; the class names
    always, as a list. The images come as read-only memory maps where the file stores them
    uncompressed (as save_arrays does); other members, and the images of a compressed file, are read."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as archive:
        keys = [key for key in archive.files if prefixes is None or key.startswith(prefixes)]
        arrays = {key: archive[key] for key in keys if not key.startswith(MAPPED_PREFIX)}
        arrays["class_names"] = [str(name) for name in archive["class_names"]]
        mapped = [key for key in keys if key.startswith(MAPPED_PREFIX)]
    with zipfile.ZipFile(path) as members, open(path, "rb") as handle:
        for key in mapped:
            arrays[key] = _mapped_member(path, members.getinfo(f"{key}.npy"), handle)
    return arrays


def _mapped_member(path: Path, info: zipfile.ZipInfo, handle) -> np.ndarray:
    """A stored (uncompressed) .npy member of the zip as a read-only memory map; a compressed one read."""
    if info.compress_type != zipfile.ZIP_STORED:
        with zipfile.ZipFile(path) as members, members.open(info) as member:
            return np.lib.format.read_array(member, allow_pickle=False)
    handle.seek(info.header_offset)
    signature, name_length, extra_length = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
    if signature != _LOCAL_SIGNATURE:
        raise ValueError(f"{path}: member {info.filename} has no zip local header; preprocess it again")
    handle.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
    version = np.lib.format.read_magic(handle)
    read_header = _HEADER_READERS.get(version)
    if read_header is None:  # a .npy version this reader does not map: read as numpy reads it
        with zipfile.ZipFile(path) as members, members.open(info) as member:
            return np.lib.format.read_array(member, allow_pickle=False)
    shape, fortran_order, dtype = read_header(handle)
    if dtype.hasobject:
        raise ValueError(f"{path}: member {info.filename} holds Python objects, which are never loaded")
    if not shape or 0 in shape:
        return np.zeros(shape, dtype)  # nothing to map (an empty split)
    order = "F" if fortran_order else "C"
    return np.memmap(path, dtype=dtype, mode="r", offset=handle.tell(), shape=shape, order=order)
