"""Runs whose training failed, remembered so that a rerun reports them instead of failing again.

A training job that raises writes one marker line to its log before it fails. The marker holds the
digest of the experiment as it was configured, so the failure counts only as long as the experiment
stays the same: edit the experiment (or delete the log) and the run is tried again.
"""

from __future__ import annotations

from pathlib import Path

from transfer_study.digests import digest

MARK = "TRAINING FAILED for experiment digest "


def failure_line(spec: dict) -> str:
    return f"{MARK}{digest(spec)}"


def known_failure(log: Path, model: Path, spec: dict) -> bool:
    """True when the run has no model and its last attempt failed with the experiment as it is now."""
    log, model = Path(log), Path(model)
    if model.exists() or not log.exists():
        return False
    return failure_line(spec) in log.read_text(errors="replace")


class InjectedFailure(RuntimeError):
    """Raised on purpose: the experiment's `inject_failure` is true."""


def raise_if_injected(experiment: dict) -> None:
    if experiment.get("inject_failure"):
        raise InjectedFailure(
            "this experiment has inject_failure: true, which makes its training fail on purpose "
            "(to try the workflow's handling of a failed run); set it to false to train"
        )
