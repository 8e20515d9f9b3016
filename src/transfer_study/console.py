"""What the workflow prints on the console: a line per finished job, where the results are, what failed."""

from __future__ import annotations

import csv
import json
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


# One line per finished job, for the `transfer-study` logger plugin (src/snakemake_logger_plugin_...).


def duration(seconds: float) -> str:
    """`41 s`, `3 min 10 s`, `1 h 05 min`: how long, at the precision a person reads on a console."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


# Wildcards whose value says what it is (an experiment's or a data set's name, a path); others are
# shown with their name: `seed 0`, `size 32`.
_SELF_EXPLAINING = {"experiment", "dataset", "study", "grid", "name", "path", "format"}


def job_name(rule: str, wildcards: dict | None) -> str:
    """`train beans-3c seed 0`: the rule and its wildcards."""
    parts = [rule]
    for key, value in (wildcards or {}).items():
        parts.append(str(value) if key in _SELF_EXPLAINING else f"{key} {value}")
    return " ".join(parts)


def _output(outputs: list[str], name: str) -> Path | None:
    # Snakemake may append flags to a formatted path ("x (temp)"); the path is the first word.
    for output in outputs:
        path = Path(str(output).split(" (")[0])
        if path.name == name:
            return path
    return None


def _percent(value) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, int | float) else "n/a"


def headline(rule: str, outputs: list[str]) -> str | None:
    """What a finished training or evaluation reached, read from the files it wrote; None otherwise."""
    try:
        if rule == "train" and (summary_path := _output(outputs, "train.json")):
            summary = json.loads(summary_path.read_text())
            kept = summary.get("kept_epoch")
            line = f"kept epoch {kept} of {summary.get('epochs_run')}"
            history = _output(outputs, "history.csv")
            if history and kept:
                with open(history, newline="") as handle:
                    row = next((r for r in csv.DictReader(handle) if r.get("epoch") == str(kept)), None)
                if row and row.get("val_accuracy"):
                    line += f", validation accuracy {_percent(float(row['val_accuracy']))}"
            return line
        if rule == "evaluate" and (metrics_path := _output(outputs, "metrics.json")):
            test = json.loads(metrics_path.read_text()).get("test") or {}
            return f"test accuracy {_percent(test.get('accuracy'))}"
    except (OSError, ValueError, TypeError):
        return None  # a line without its metric beats a console that fails a run
    return None


def time_left(done: int, total: int, elapsed: float) -> str:
    """`3 min 10 s so far, about 5 min left`: the time left from the pace of the jobs so far."""
    text = f"{duration(elapsed)} so far"
    if 0 < done < total:
        text += f", about {duration(elapsed / done * (total - done))} left"
    return text


def job_line(rule, wildcards, seconds, outputs, done, total, elapsed) -> str:
    """`12/86 train beans-3c seed 0: 41 s; kept epoch 6 of 8, ... (3 min 10 s so far, about 5 min left)`:
    the console's line for one finished job, what it reached, and the whole run's progress."""
    line = f"{done}/{total} {job_name(rule, wildcards)}: {duration(seconds)}"
    if reached := headline(rule, outputs):
        line += f"; {reached}"
    return f"{line} ({time_left(done, total, elapsed)})"
