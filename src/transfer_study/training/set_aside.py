"""Backups set aside: what claim_backup (resume.py) leaves of a backup made by other settings.

A training job that finds a backup it must not resume renames it to `backup.set-aside-<time>/` beside
the run's live `backup/`, writes the reason into it (SET_ASIDE.txt) and trains afresh. Nothing removes
those folders on its own (a VGG16 backup is about 160 MB), so this module finds them under a results
folder, describes them and, when asked, removes them: the planning says how many there are, and
`python -m transfer_study.set_aside` lists or removes them.

Only a folder whose name is that of a set-aside backup and that holds SET_ASIDE.txt counts: the live
`backup/` never does, nor does a folder of that name without the reason (claim_backup writes the reason
after the rename, so a folder being set aside at this moment is left alone too).

No Keras here: the planning imports this module. And no import of or from resume.py either way: what
a training job imports is its code input, so editing this listing would otherwise retrain every run.
The names below are those claim_backup writes; tests/test_set_aside.py checks them against it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SET_ASIDE_REASON = "SET_ASIDE.txt"  # as resume.SET_ASIDE_REASON
COMMAND = "python -m transfer_study.set_aside"
STAMP = "%Y%m%d-%H%M%S"  # claim_backup's time.strftime
# The live backup/ (rules/train.smk's params.backup) set aside at 2025-01-31 14:25:01, local time:
# backup.set-aside-20250131-142501, with a "+" for each other one set aside in the same second.
NAME = re.compile(r"backup\.set-aside-(?P<stamp>\d{8}-\d{6})\+*")
SEED = re.compile(r"seed(?P<seed>\d+)")
# Where they are below a results folder: runs/<experiment>/seed<N>/ (planning.run_folder).
PATTERN = "runs/*/seed*/backup.set-aside-*"


@dataclass(frozen=True)
class SetAside:
    """One set-aside backup: its folder, its run, when it was set aside, its bytes and the reason."""

    path: Path
    experiment: str
    seed: int
    when: datetime
    size: int
    reason: str


def command(results, *options: str) -> str:
    """The command line that lists (or with `--remove`, removes) the set-aside backups of `results`."""
    return " ".join([COMMAND, shlex.quote(str(results)), *options])


def is_set_aside(path: Path) -> bool:
    """Whether `path` is a set-aside backup: a real folder (no link) of a run, named as claim_backup
    names them, holding SET_ASIDE.txt as a regular file."""
    path = Path(path)
    if not (NAME.fullmatch(path.name) and SEED.fullmatch(path.parent.name)):
        return False
    try:
        folder, reason = os.lstat(path), os.lstat(path / SET_ASIDE_REASON)
    except OSError:
        return False
    return stat.S_ISDIR(folder.st_mode) and stat.S_ISREG(reason.st_mode)


def folder_size(folder: Path) -> int:
    """The bytes of the files below `folder`; links are counted as links, never followed."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:  # gone meanwhile
                continue
    return total


def read_reason(folder: Path) -> str:
    """The reason SET_ASIDE.txt gives ("Set aside on <date>: <reason>."), on one line."""
    text = " ".join((Path(folder) / SET_ASIDE_REASON).read_text(errors="replace").split())
    head, found, reason = text.partition(": ")
    if found and head.startswith("Set aside on "):
        text = reason
    return text.removesuffix(".") or "(no reason given)"


def _when(path: Path) -> datetime:
    try:
        return datetime.strptime(NAME.fullmatch(path.name)["stamp"], STAMP)
    except ValueError:  # digits that are no date: when the reason was written
        return datetime.fromtimestamp((path / SET_ASIDE_REASON).stat().st_mtime)


def described(path: Path) -> SetAside:
    return SetAside(
        path=path,
        experiment=path.parent.parent.name,
        seed=int(SEED.fullmatch(path.parent.name)["seed"]),
        when=_when(path),
        size=folder_size(path),
        reason=read_reason(path),
    )


def find_set_aside(results, experiments=None) -> list[SetAside]:
    """Every set-aside backup below `results` (of the named `experiments` only, where given), by run and
    time. One glob of the run folders, then a look into what it found: cheap enough for each planning."""
    found = []
    for path in Path(results).glob(PATTERN):
        if experiments and path.parent.parent.name not in experiments:
            continue
        try:
            if is_set_aside(path):
                found.append(described(path))
        except OSError:  # removed meanwhile, or unreadable: not ours to judge
            continue
    return sorted(found, key=lambda entry: (entry.experiment, entry.seed, entry.when, entry.path.name))


def remove_set_aside(entries: list[SetAside]) -> tuple[list[SetAside], list[tuple[SetAside, str]]]:
    """Delete each entry's folder, checked again just before (a set-aside backup still, no link):
    (the removed ones, (entry, why not) for the others)."""
    removed, kept = [], []
    for entry in entries:
        if not is_set_aside(entry.path):
            kept.append((entry, "no longer a set-aside backup (renamed, or its SET_ASIDE.txt gone)"))
            continue
        try:
            shutil.rmtree(entry.path)
        except OSError as error:
            kept.append((entry, str(error)))
        else:
            removed.append(entry)
    return removed, kept


def size_text(size: int) -> str:
    """`512 bytes`, `42.0 kB`, `160 MB`, `1.3 GB`: decimal units, as file managers show them."""
    if size < 1000:
        return f"{size} byte{'s' if size != 1 else ''}"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):  # noqa: B007 - the unit reached is the one shown
        value /= 1000
        if value < 999.5:
            break
    return f"{value:.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"


def count_text(count: int) -> str:
    return f"{count} set-aside backup{'s' if count != 1 else ''}"


def planning_line(results) -> str | None:
    """The console's line at planning where set-aside backups lie below `results`; None where none do."""
    found = find_set_aside(results)
    if not found:
        return None
    total = sum(entry.size for entry in found)
    them = "it" if len(found) == 1 else "them"
    return (
        f"{count_text(len(found))} ({size_text(total)}) in {Path(results) / 'runs'}, left by training "
        f"jobs that could not resume {them}: `{command(results)}` lists {them}, "
        f"`{command(results, '--remove')}` deletes {them}."
    )


def entry_lines(entry: SetAside) -> list[str]:
    """`beans-2 seed 0  2025-01-31 14:25:01  160 MB  <reason>`, then the folder, indented."""
    return [
        f"{entry.experiment} seed {entry.seed}  {entry.when:%Y-%m-%d %H:%M:%S}  {size_text(entry.size)}  "
        f"{entry.reason}",
        f"    {entry.path}",
    ]
