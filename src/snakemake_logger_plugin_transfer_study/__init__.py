"""Snakemake logger plugin `transfer-study`: one console line per finished job, and the time left.

A long run of the study or the demo is dozens of jobs; Snakemake's own console shows a block of a dozen
lines for each (every input, the code files included). This handler, chosen by profiles/default
(`logger: [transfer-study]`), shows instead one line per finished job: what it was, how long it took,
what a training or evaluation reached, and the run's progress with an estimate of the time left.
Errors, warnings and what the workflow itself says are shown as Snakemake shows them. Snakemake's log
file (.snakemake/log/) keeps every full block, since Snakemake writes it with its own handler.

A dry run (`-n`) and `--verbose` show Snakemake's own console, unchanged: there the blocks are the point.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter

from snakemake.logging import ColorizingTextHandler
from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

# Snakemake's scheduling chatter (once per scheduling round, or set-up lines), left to its log file;
# its header block (WORKFLOW_STARTED) likewise.
_CHATTER = (
    "Select jobs to execute",
    "Execute ",
    "Using shell:",
    "Provided ",
    "Rules claiming more threads",
    "Building DAG of jobs",
    "Assuming unrestricted shared filesystem",
    "host:",
)


# The answer of LogHandler.line for a record shown as Snakemake's own console shows it.
SNAKEMAKES = object()


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        self.stream = sys.stdout if self.common_settings.stdout else sys.stderr
        self.as_snakemake = bool(self.common_settings.dryrun or self.common_settings.verbose)
        # What is shown as Snakemake shows it goes through Snakemake's own console handler: its colours,
        # and the blank line before each job block that tools reading a dry run split on.
        self.snakemake_console = ColorizingTextHandler(
            nocolor=bool(getattr(self.common_settings, "nocolor", False)), stream=self.stream
        )
        self.jobs: dict = {}  # jobid -> (rule, wildcards, outputs, started)
        self.finished: list = []  # finished since the last progress event
        self.done = 0
        self.first_started: float | None = None
        # The jobs this run executes, from its job statistics; Snakemake's progress events count every
        # job of the DAG, those an --until or a target leaves out included.
        self.total: int | None = None

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return False  # Snakemake's filter (--quiet and the rest) applies

    @property
    def has_formatter(self) -> bool:
        return False  # Snakemake's formatter, for what is shown as Snakemake shows it

    @property
    def needs_rulegraph(self) -> bool:
        return False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.line(record)
            if line is SNAKEMAKES:
                self.snakemake_console.setFormatter(self.formatter)
                self.snakemake_console.emit(record)
            elif line:
                self.stream.write(line + "\n")
                self.stream.flush()
        except Exception:
            self.handleError(record)

    def line(self, record: logging.LogRecord) -> str | object | None:
        """This handler's line for `record`, None for no line, or SNAKEMAKES for Snakemake's own."""
        event = getattr(record, "event", None)
        if self.as_snakemake or record.levelno >= logging.WARNING:
            return SNAKEMAKES
        now = time.monotonic()
        if event == LogEvent.JOB_INFO:
            self.first_started = self.first_started or now
            self.jobs[record.jobid] = (record.rule_name, record.wildcards, record.output, now)
            return None
        if event == LogEvent.JOB_FINISHED:
            self.finished.append((record.job_id, now))
            return None
        if event == LogEvent.PROGRESS:  # Snakemake counts the finished jobs just after each one
            lines = []
            for jobid, ended in self.finished:
                rule, wildcards, outputs, started = self.jobs.pop(jobid, ("job", {}, [], ended))
                self.done += 1
                total = max(self.total or record.total, self.done)
                elapsed = ended - (self.first_started or ended)
                # Imported here, once a job has finished, not when Snakemake loads this plugin: by then
                # the Snakefile has put its own checkout's src/ first on sys.path, and the package must
                # come from there (the code inputs name that checkout's files), not from wherever the
                # plugin was installed from.
                from transfer_study.console import job_line

                lines.append(job_line(rule, wildcards, ended - started, outputs, self.done, total, elapsed))
            self.finished = []
            return "\n".join(lines) or None
        if event == LogEvent.RUN_INFO and isinstance(getattr(record, "stats", None), dict):
            self.total = record.stats.get("total")
            return jobs_to_run(record.stats)
        if event in (LogEvent.SHELLCMD, LogEvent.JOB_STARTED, LogEvent.WORKFLOW_STARTED):
            return None
        text = self.format(record)
        if not text.strip() or text.lstrip().startswith(_CHATTER):
            return None
        return SNAKEMAKES


def jobs_to_run(stats: dict) -> str:
    """`86 jobs to run: train 26, evaluate 26, ...` from Snakemake's job statistics."""
    counts = Counter({rule: count for rule, count in stats.items() if rule != "total"})
    listed = ", ".join(f"{rule} {count}" for rule, count in counts.most_common())
    return f"{stats.get('total', sum(counts.values()))} jobs to run: {listed}"
