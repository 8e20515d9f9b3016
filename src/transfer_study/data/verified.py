"""Every downloadable source is verified before any job reads it, whoever put the file there.

Snakemake plans no download for a file that exists, so a file placed or replaced by hand would be
read unchecked. When the workflow is planned, each such file is checked against the size and every
checksum in the config. A file that does not verify is moved aside (kept as `<name>.unverified`):
results already made from the verified file stand, and the next job that needs the file has the
download rule fetch it again from its url first (or fail saying why). Hashing 170 MB on every run would
be slow: what was verified is recorded (path, size, modification time, the checksums it matched) in
`<resources>/.verified.json`, and a file is hashed again only when one of those changes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from transfer_study.data.download import ChecksumError, verify_file
from transfer_study.files import write_atomically

RECORD = ".verified.json"
SET_ASIDE = ".unverified"


def _stamp(path: Path, checksums: dict, size) -> dict:
    # The inode's change time as well as the modification time: a copy that keeps the modification
    # time (cp -p, rsync -a) or a rename over the file still changes the inode or its ctime.
    status = path.stat()
    return {
        "size": status.st_size,
        "mtime_ns": status.st_mtime_ns,
        "ctime_ns": status.st_ctime_ns,
        "inode": status.st_ino,
        "checksums": checksums,
        "config_size": size,
    }


def verify_present_sources(resources: Path, sources: dict[str, dict], say=print) -> list[str]:
    """Check every present file of `sources` ({name: {"path", "checksums", "size"}}, paths below
    `resources`); returns the names whose file was set aside because it does not verify."""
    resources = Path(resources)
    record_path = resources / RECORD
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        record = {}
    changed, set_aside = False, []
    for name, source in sources.items():
        path = resources / source["path"]
        try:
            expected = _stamp(path, source["checksums"], source.get("size"))
        except FileNotFoundError:  # not there (yet), or set aside by another run just now
            changed |= record.pop(source["path"], None) is not None
            continue
        if record.get(source["path"]) == expected:
            continue
        changed = True
        try:
            verify_file(path, source["checksums"], source.get("size"))
        except FileNotFoundError:
            record.pop(source["path"], None)
            continue
        except ChecksumError as error:
            aside = path.with_name(path.name + SET_ASIDE)
            os.replace(path, aside)
            record.pop(source["path"], None)
            set_aside.append(name)
            say(
                f"{path} does not match sources.{name} in the config ({error}); moved it to {aside} "
                "so that it is fetched again from the source's url"
            )
            continue
        record[source["path"]] = expected
    if changed:
        resources.mkdir(parents=True, exist_ok=True)
        text = json.dumps(record, indent=2, sort_keys=True)
        write_atomically(record_path, lambda partial: Path(partial).write_text(text))
    return set_aside
