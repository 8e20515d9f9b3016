"""Every file of a source as the formats that read people's folders see it: a folder (links followed,
hidden files left out, see data/directories.py; each file read as it is decoded), a zip (each member
read as it is decoded) or a tar(.gz) (read in memory within one limit);
and the rule those formats share for the files they keep: no two paths that differ only in case."""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from transfer_study.data.archives import ZipMember


class SourceError(ValueError):
    """A source that is none of a folder, a zip or a tar, or holds more than preprocessing may read."""


def differing_only_in_case(names: Iterable[str]) -> list[tuple[str, str]]:
    """(earlier, later) spelling of every name equal to an earlier one under str.casefold() but spelled
    otherwise: on macOS and Windows one file, here two (`cat/IMG_1.jpg`, `cat/img_1.JPG`). The formats
    that read people's folders refuse them among the members they keep, naming both (case_alike).

    One casefold and one set operation a name where none differ (planning passes every file of a
    directory source); the pairs are looked for only where some do."""
    names = names if isinstance(names, list) else list(names)
    if len(set(map(str.casefold, names))) == len(names):
        return []
    first: dict[str, str] = {}
    alike = []
    for name in names:
        earlier = first.setdefault(name.casefold(), name)
        if earlier != name:
            alike.append((earlier, name))
    return alike


def case_alike(earlier: str, later: str) -> str:
    """What is wrong with two paths that differ only in case, and what to do, in the formats' errors."""
    return (
        f"{earlier!r} and {later!r} differ only in case: one file on macOS and Windows, two here. Rename "
        "or remove one"
    )


class SourceFiles(NamedTuple):
    # (name, content) of the files kept, in name order: a folder's file as its Path and a zip's as its
    # ZipMember, read only where it is decoded (datasets.decode_into), one file at a time; a tar
    # member's bytes
    files: list[tuple[str, bytes | Path | ZipMember]]
    unread: list[tuple[str, str]]  # (name, reason): what a folder holds that is not a readable file
    left_out: int  # files that `wanted` did not keep


def read_source_files(source: Path, wanted: Callable[[str], bool] | None = None) -> SourceFiles:
    """Every file of a folder, zip or tar that `wanted` keeps (all by default), and what could not be
    read as a file (broken links, folders reached twice through links). A folder's files are given as
    paths and read one at a time as they are decoded, so a folder of any size is read in constant
    memory (its unwanted files never opened); a zip's files likewise, as ZipMembers; a tar archive is
    read whole, once, within MAX_ARCHIVE_BYTES (a compressed tar can only be read from its start)."""
    from transfer_study.data.archives import iter_tar_files, list_zip_files
    from transfer_study.data.datasets import MAX_ARCHIVE_BYTES, MAX_ZIP_BYTES
    from transfer_study.data.directories import walk

    keep = wanted or (lambda name: True)
    source = Path(source)
    if source.is_dir():
        listing = walk(source)
        files = [(relative, Path(path)) for relative, path in listing.files if keep(relative)]
        return SourceFiles(files, listing.skipped, len(listing.files) - len(files))
    if zipfile.is_zipfile(source):
        members = list_zip_files(source, max_total_bytes=MAX_ZIP_BYTES)
    elif tarfile.is_tarfile(source):
        members = iter_tar_files(source, max_total_bytes=MAX_ARCHIVE_BYTES)
    else:
        raise SourceError(
            f"{source}: neither a folder, a zip nor a tar archive; a source of images is one of those"
        )
    every = list(members)
    kept = sorted((name, data) for name, data in every if keep(name))
    return SourceFiles(kept, [], len(every) - len(kept))
