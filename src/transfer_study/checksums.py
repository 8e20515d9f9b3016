"""SHA-256 of files and folders as they lie on disk (a model, an export), read a chunk at a time.

Apart from digests.py, which every job reaches: a module of its own keeps the jobs that hash files
(model cards, exports) from rerunning every training when it changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from transfer_study.digests import digest


def file_sha256(path, chunk_bytes: int = 1 << 20) -> str:
    """The SHA-256 of one file's content, read a chunk at a time."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            sha.update(chunk)
    return sha.hexdigest()


# The marker Snakemake leaves in a directory output once its job is done: no part of the content.
SNAKEMAKE_MARKER = ".snakemake_timestamp"


def tree_sha256(path) -> str:
    """The SHA-256 of a file, or of a folder as the sorted list of its files' relative paths and
    hashes (a SavedModel is a folder), Snakemake's marker left out."""
    path = Path(path)
    if path.is_file():
        return file_sha256(path)
    entries = [
        [item.relative_to(path).as_posix(), file_sha256(item)]
        for item in sorted(path.rglob("*"))
        if item.is_file() and item.name != SNAKEMAKE_MARKER
    ]
    return digest(entries)
