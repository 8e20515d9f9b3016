"""The few lines the workflow itself prints on the console: where the results are, or what failed."""

from __future__ import annotations

import re
from pathlib import Path

# Snakemake writes one block per failed job to its log: "Error in rule NAME:", indented details, and a
# "log: PATH (check log file(s) for error details)" line when the rule has a log.
_ERROR_BLOCK = re.compile(r"^Error in rule (\S+?):\s*$(?P<body>(?:\n[ \t]+.*)*)", re.M)
_LOG_LINE = re.compile(r"^[ \t]+log: (?P<paths>.+?)(?: \(check log file\(s\) for error details\))?\s*$", re.M)


def finished_line(html: str, pdf: str | None, summary: str) -> str:
    report = f"Report: {html}" + (f" and {pdf}" if pdf else "")
    return f"{report}; summary table: {summary}"


def failed_job_logs(snakemake_log: str) -> list[tuple[str, str | None]]:
    """(rule, its job's log or None) of every failed job named in Snakemake's own log text."""
    failures = []
    for block in _ERROR_BLOCK.finditer(snakemake_log):
        found = _LOG_LINE.search(block.group("body"))
        failures.append((block.group(1), found.group("paths").strip() if found else None))
    return list(dict.fromkeys(failures))


def failed_line(snakemake_log_path) -> str:
    """One line naming the logs of the jobs that failed (or Snakemake's log when none is known).

    Snakemake hands `onerror` its log as a path, or as a list of paths in some of its code paths.
    """
    if isinstance(snakemake_log_path, list | tuple):
        snakemake_log_path = next((str(path) for path in snakemake_log_path if path), None)
    text = ""
    if snakemake_log_path and Path(snakemake_log_path).exists():
        text = Path(snakemake_log_path).read_text(errors="replace")
    failures = failed_job_logs(text)
    logs = [log for _, log in failures if log]
    if logs:
        return f"Failed: {len(failures)} job(s); see {', '.join(logs)}"
    return f"Failed; see Snakemake's log {snakemake_log_path}" if snakemake_log_path else "Failed."
