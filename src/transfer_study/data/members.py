"""Every file of a source as the formats that read people's folders see it: a folder (links followed,
hidden files left out, see data/directories.py; each file read as it is decoded), a zip or a tar(.gz)
(each member read as it is decoded; a compressed tar's copied uncompressed to a scratch file first);
and the rule those formats share for the files they keep: no two paths that differ only in case."""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from transfer_study.data.archives import TarMember, ZipMember


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
    # (name, content) of the files kept, in name order: a folder's file as its Path, a zip's as its
    # ZipMember and a tar's as its TarMember, read only where it is decoded (datasets.decode_into), one
    # file at a time
    files: list[tuple[str, Path | ZipMember | TarMember]]
    unread: list[tuple[str, str]]  # (name, reason): what a folder holds that is not a readable file
    left_out: int  # files that `wanted` did not keep


def read_source_files(source: Path, wanted: Callable[[str], bool] | None = None) -> SourceFiles:
    """Every file of a folder, zip or tar that `wanted` keeps (all by default), and what could not be
    read as a file (broken links, folders reached twice through links). A folder's files are given as
    paths and read one at a time as they are decoded, so a folder of any size is read in constant
    memory (its unwanted files never opened); a zip's and a tar's files likewise, as ZipMembers and
    TarMembers. A compressed tar can only be read from its start: it is read once, and the members kept
    are copied uncompressed to a file in the scratch folder (datasets.scratch_folder) as they come."""
    from transfer_study.data.archives import list_tar_files, list_zip_files
    from transfer_study.data.datasets import (
        MAX_IMAGE_FILE_BYTES,
        MAX_MEMBERWISE_ARCHIVE_BYTES,
        scratch_folder,
    )
    from transfer_study.data.directories import walk

    keep = wanted or (lambda name: True)
    source = Path(source)
    if source.is_dir():
        listing = walk(source)
        files = [(relative, Path(path)) for relative, path in listing.files if keep(relative)]
        return SourceFiles(files, listing.skipped, len(listing.files) - len(files))
    if zipfile.is_zipfile(source):
        every = list_zip_files(source, max_total_bytes=MAX_MEMBERWISE_ARCHIVE_BYTES)
        kept = sorted((name, member) for name, member in every if keep(name))
        return SourceFiles(kept, [], len(every) - len(kept))
    if tarfile.is_tarfile(source):
        limit, scratch = MAX_MEMBERWISE_ARCHIVE_BYTES, scratch_folder()
        members, count = list_tar_files(source, keep, limit, scratch, member_limit=MAX_IMAGE_FILE_BYTES)
        return SourceFiles(sorted(members), [], count - len(members))
    raise SourceError(
        f"{source}: neither a folder, a zip nor a tar archive; a source of images is one of those"
    )
