"""Where a report's numbers come from: the git state of the workflow that computed them."""

from __future__ import annotations

import subprocess


def git_state(folder) -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=30)

    try:
        commit = git("rev-parse", "HEAD")
    except OSError:  # no git on this machine
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(git("status", "--porcelain").stdout.strip())}
