"""List the backups that training jobs set aside, and remove them.

    python -m transfer_study.set_aside [RESULTS_DIR] [--experiment NAME]... [--remove]

A training job that finds a backup made by other settings (another learning rate, the data made again,
...) does not resume it: it renames it to runs/<experiment>/seed<N>/backup.set-aside-<time>/, writes the
reason into its SET_ASIDE.txt and trains afresh. Nothing removes these folders on its own (a VGG16
backup is about 160 MB). RESULTS_DIR is the config's `results` folder (default `results`; the demo's is
`results/demo`). Without --remove, each is listed: its run, when it was set aside, its size and the
reason. With --remove they are deleted: only folders named as set-aside backups that hold SET_ASIDE.txt,
never a run's live backup/ or anything else.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from transfer_study.training.set_aside import (
    COMMAND,
    command,
    count_text,
    entry_lines,
    find_set_aside,
    remove_set_aside,
    size_text,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument(
        "results", type=Path, nargs="?", default=Path("results"), metavar="RESULTS_DIR",
        help="the config's results folder (default: results; the demo's: results/demo)",
    )  # fmt: skip
    parser.add_argument(
        "--experiment", action="append", metavar="NAME",
        help="only the runs of this experiment (may be given more than once)",
    )  # fmt: skip
    parser.add_argument(
        "--remove", action="store_true",
        help="delete them (set-aside backups only: never a run's live backup/ or other files)",
    )  # fmt: skip
    arguments = parser.parse_args(argv)
    results, experiments = arguments.results, arguments.experiment or []
    if not results.is_dir():
        what = "not a folder" if results.exists() else "no such folder"
        print(
            f"set_aside: {results}: {what}; RESULTS_DIR is the config's `results` folder "
            "(results, results/demo, ...)",
            file=sys.stderr,
        )
        return 2
    for name in experiments:
        if not (results / "runs" / name).is_dir():
            print(f"set_aside: no runs of experiment {name} in {results / 'runs'}", file=sys.stderr)

    found = find_set_aside(results, experiments)
    filters = [part for name in experiments for part in ("--experiment", shlex.quote(name))]
    if not found:
        where = f"{results / 'runs'}" + (f" of {', '.join(experiments)}" if experiments else "")
        missing = "" if (results / "runs").is_dir() else f" ({results} holds no runs/ folder yet)"
        print(f"No set-aside backups in {where}{missing}.")
        return 0
    if not arguments.remove:
        for entry in found:
            print("\n".join(entry_lines(entry)))
        total = sum(entry.size for entry in found)
        print(
            f"{count_text(len(found))}, {size_text(total)} in all; "
            f"`{command(results, *filters, '--remove')}` deletes {'it' if len(found) == 1 else 'them'}."
        )
        return 0

    removed, kept = remove_set_aside(found)
    for entry in removed:
        print(f"removed {entry.path} ({size_text(entry.size)})")
    for entry, why in kept:
        print(f"set_aside: kept {entry.path}: {why}", file=sys.stderr)
    freed = sum(entry.size for entry in removed)
    print(f"Removed {count_text(len(removed))}: {size_text(freed)} ({freed:,} bytes) freed.")
    return 1 if kept else 0


if __name__ == "__main__":
    sys.exit(main())
