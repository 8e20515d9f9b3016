"""Room on a disk for what preprocessing writes there, checked before it is written: a full disk is
then an error that names the folder, the bytes wanted and what to do, rather than a write failing part
way, or a process killed by SIGBUS when a mapped file cannot grow."""

from __future__ import annotations

import shutil
from pathlib import Path

# What copying an archive's members leaves free on the disk at least, however much the archive
# declares (a tar bomb within the size bound, say).
COPY_RESERVE_BYTES = 1024**3


class DiskSpaceError(ValueError):
    """Not room enough on a disk for what is about to be written there."""


def require_room(folder: Path, wanted: int, what: str, fix: str, reserve: int = 0) -> int:
    """The bytes free on `folder`'s disk, measured now (so that another job's writes since count);
    DiskSpaceError unless `wanted` of them are free beyond `reserve`."""
    free = shutil.disk_usage(folder).free
    if wanted + reserve > free:
        kept = f", keeping {reserve:,} free" if reserve else ""
        raise DiskSpaceError(
            f"{what}: {wanted:,} bytes wanted in {folder}{kept}, where its disk has {free:,} free: {fix}"
        )
    return free
