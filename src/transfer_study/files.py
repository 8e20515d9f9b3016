"""Writing a file so that it is either complete or absent: never half-written where a reader looks."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_atomically(path, write: Callable[[Path], object]) -> None:
    """Call `write(temporary_path)` beside `path`, then move the result into place.

    The temporary name keeps the file's suffix (Keras picks formats by suffix). If writing fails (a full
    disk, a crash in the writer), the temporary file is removed and whatever was at `path` stays as it was.
    """
    path = Path(path)
    partial = path.with_name(f"partial.{os.getpid()}.{path.name}")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
