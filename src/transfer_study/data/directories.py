"""A local folder of images as a source: nothing to download, and its content fingerprinted.

Snakemake sees files, not what a folder holds. When the workflow is planned, each `directory:` source
gets a record of its files (relative path, size and SHA-256 of each) written beside the results; the
record is rewritten only when that list changes, so an added, removed or changed image makes the record
newer than what was made from the folder, and exactly the jobs that read it run again. Hashing every
image on every planning would be slow: each file's size, modification time, change time and inode are
kept with its hash in a second file, and a file is hashed again only when one of those changes.

Hidden files and folders (names that start with a dot: .DS_Store, .git, editors' backups) are neither
fingerprinted nor read. Symbolic links are followed, to files and to folders alike, as a file manager
shows them; a folder reached a second time (a link back up, a loop, or two links to one folder) is read
once, and a broken link or anything that is not a regular file is listed with its reason rather than
dropped without a word.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from transfer_study.files import write_atomically

CHUNK_BYTES = 1 << 20
STAMPS_FORMAT = 2  # {"format", "directory", "files": {relative path: {"stamp", "sha256"}}}


class Listing(NamedTuple):
    """A folder's files, and what below it was not read, with why."""

    files: list[tuple[str, str]]  # (relative POSIX path, path on disk), sorted
    skipped: list[tuple[str, str]]  # (relative POSIX path, reason), sorted


def walk(directory: Path) -> Listing:
    """Every regular file below `directory` that is not hidden, links followed and loops stopped.

    Plain strings and os.scandir throughout: planning walks every directory source, and pathlib's
    objects, made once per file, cost more than the walk itself at tens of thousands of files."""
    found, skipped = [], []
    first_read = {os.path.realpath(directory): "."}  # real folder -> where it was read

    def visit(folder: str, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            skipped.append((prefix.rstrip("/") or ".", f"cannot be listed ({error.strerror})"))
            return
        below = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relative = prefix + entry.name
            if entry.is_dir():  # a link to a folder counts as the folder, as a file manager shows it
                real = os.path.realpath(entry.path)
                if real in first_read:
                    skipped.append((relative, f"a link to {first_read[real]!r}, which is read once already"))
                    continue
                first_read[real] = relative
                below.append(entry)
            elif entry.is_file():
                found.append((relative, entry.path))
            elif entry.is_symlink() and not os.path.exists(entry.path):
                skipped.append(
                    (relative, f"broken link (to {os.readlink(entry.path)!r}, which is not there)")
                )
            else:
                skipped.append((relative, "not a regular file"))
        for entry in below:
            visit(entry.path, prefix + entry.name + "/")

    visit(os.fspath(directory), "")
    return Listing(sorted(found), sorted(skipped))


def listed_files(directory: Path) -> list[tuple[str, str]]:
    """(relative POSIX path, path) of every regular file below `directory` that is not hidden, sorted."""
    return walk(directory).files


def iter_directory_files(directory: Path) -> Iterator[tuple[str, bytes]]:
    """(relative path, content) of every file listed_files finds, in its order."""
    for relative, path in listed_files(directory):
        yield relative, Path(path).read_bytes()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(directory: Path, known: dict | None = None) -> tuple[list[list], dict]:
    """[[relative path, size, sha256], ...] of the folder's files, and the stamps and hashes to pass as
    `known` next time (a file whose stamp is unchanged is not hashed again)."""
    known = known or {}
    entries, stamps = [], {}
    for relative, path in listed_files(directory):
        status = os.stat(path)
        stamp = [status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino]
        previous = known.get(relative)
        sha256 = previous["sha256"] if previous and previous["stamp"] == stamp else _sha256(path)
        stamps[relative] = {"stamp": stamp, "sha256": sha256}
        entries.append([relative, stamp[0], sha256])
    return entries, stamps


def content_digest(directory: Path) -> str:
    """One SHA-256 for the folder's content (paths, sizes, hashes), as recorded in stats.json."""
    entries, _ = fingerprint(directory)
    return hashlib.sha256(json.dumps(entries, separators=(",", ":")).encode()).hexdigest()


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda partial: Path(partial).write_text(text))


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def record_directory(directory: Path, record: Path) -> bool:
    """Write the folder's fingerprint to `record` when it differs from what is there; True if written.

    At planning this runs on every call. The stamps file is written after the record, naming the folder
    it describes, so stamps unchanged since then mean the record is current and is not read at all;
    otherwise the files are compared as data (encoding a record of a million files as indented text
    only to compare it costs seconds)."""
    record = Path(record)
    stamps_path = record.with_name(record.name + ".stamps")
    saved = _read_json(stamps_path)
    current = isinstance(saved, dict) and saved.get("format") == STAMPS_FORMAT
    known = saved["files"] if current else saved  # an older stamps file: its hashes are still reused
    entries, stamps = fingerprint(directory, known if isinstance(known, dict) else None)
    unchanged = current and saved.get("directory") == str(directory) and known == stamps
    if unchanged and record.is_file():
        return False
    content = {"directory": str(directory), "files": entries}
    written = _read_json(record) != content
    if written:
        _write_text(record, json.dumps(content, indent=1) + "\n")
    stamps_text = json.dumps({"format": STAMPS_FORMAT, "directory": str(directory), "files": stamps})
    _write_text(stamps_path, stamps_text)
    return written
