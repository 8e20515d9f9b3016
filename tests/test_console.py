"""What the workflow and the tests print: the report's path, the failed jobs' logs, the running jobs."""

import logging

import pytest
from conftest import running_jobs

from transfer_study.console import failed_job_logs, failed_line, finished_line

# Two failed jobs as Snakemake 9 writes them to its log: one with a log, one without.
SNAKEMAKE_LOG = """\
[Mon Nov 30 08:00:01 2026]
Error in rule train:
    message: None
    jobid: 12
    input: results/demo/data/beans-32px.npz
    output: results/demo/runs/beans-2/seed0/model.keras
    log: results/demo/logs/train/beans-2/seed0.log (check log file(s) for error details)
    wildcards: experiment=beans-2, seed=0

Error in rule compile_pdf:
    jobid: 40
    output: results/demo/report/report.pdf
    shell:
        latexmk -pdf results/demo/report/report.tex
        (command exited with non-zero exit code)
Shutting down, this might take some time.
"""


def test_the_failed_jobs_and_their_logs_are_read_from_snakemakes_log(tmp_path):
    assert failed_job_logs(SNAKEMAKE_LOG) == [
        ("train", "results/demo/logs/train/beans-2/seed0.log"),
        ("compile_pdf", None),
    ]
    log = tmp_path / "run.snakemake.log"
    log.write_text(SNAKEMAKE_LOG)
    assert failed_line(str(log)) == "Failed: 2 job(s); see results/demo/logs/train/beans-2/seed0.log"
    # Snakemake passes onerror a list of logs in some of its code paths.
    assert failed_line([str(log)]) == failed_line(str(log))
    assert failed_line([]) == "Failed."
    log.write_text("Error in rule compile_pdf:\n    jobid: 40\n")
    assert failed_line(str(log)) == f"Failed; see Snakemake's log {log}"


def test_the_finished_line_names_the_report_and_the_summary():
    assert finished_line("r/report.html", "r/report.pdf", "r/summary.csv") == (
        "Report: r/report.html and r/report.pdf; summary table: r/summary.csv"
    )
    assert finished_line("r/report.html", None, "r/summary.csv").startswith("Report: r/report.html;")


def test_a_test_timeout_names_the_jobs_still_running():
    output = """\
[Mon Nov 30 08:00:00 2026]
localrule train:
    input: a.npz
    output: m.keras
    log: results/demo/logs/train/beans-2/seed0.log
    jobid: 7
    wildcards: experiment=beans-2, seed=0

[Mon Nov 30 08:00:00 2026]
localrule aggregate:
    log: results/demo/logs/aggregate.log
    jobid: 9

[Mon Nov 30 08:00:03 2026]
Finished jobid: 9 (Rule: aggregate)
"""
    assert running_jobs(output) == [
        "train (experiment=beans-2, seed=0), log: results/demo/logs/train/beans-2/seed0.log"
    ]


# The `transfer-study` logger plugin: one console line per finished job.


def test_durations_read_as_a_person_says_them():
    from transfer_study.console import duration

    assert [duration(s) for s in (0.4, 41, 190, 3599.6, 3900)] == [
        "0 s",
        "41 s",
        "3 min 10 s",
        "1 h 00 min",
        "1 h 05 min",
    ]


def write_training(folder, kept=2, epochs=3):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.json").write_text(f'{{"kept_epoch": {kept}, "epochs_run": {epochs}}}')
    rows = "".join(f"{e},0.{e},0.{e}5\n" for e in range(1, epochs + 1))
    (folder / "history.csv").write_text("epoch,accuracy,val_accuracy\n" + rows)
    return [str(folder / "model.keras"), str(folder / "train.json"), str(folder / "history.csv")]


def test_a_finished_training_or_evaluation_is_one_line_with_what_it_reached(tmp_path):
    from transfer_study.console import job_line

    outputs = write_training(tmp_path / "beans-3c/seed0")
    line = job_line("train", {"experiment": "beans-3c", "seed": 0}, 41.2, outputs, 12, 86, 190)
    # Epoch 2 was kept: its validation accuracy (0.25), not the last epoch's.
    assert line == (
        "12/86 train beans-3c seed 0: 41 s; kept epoch 2 of 3, validation accuracy 25.0 % "
        "(3 min 10 s so far, about 19 min 32 s left)"
    )
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"test": {"accuracy": 0.7477, "loss": 0.8}}')
    line = job_line("evaluate", {"experiment": "cifar10-stage3", "seed": 1}, 5, [str(metrics)], 86, 86, 600)
    assert line == "86/86 evaluate cifar10-stage3 seed 1: 5 s; test accuracy 74.8 % (10 min 00 s so far)"
    line = job_line("preprocess", {"dataset": "cifar10", "size": 32}, 3, [], 1, 4, 3)
    assert line == "1/4 preprocess cifar10 size 32: 3 s (3 s so far, about 9 s left)"


def test_a_training_whose_files_are_missing_or_garbled_still_gets_its_line(tmp_path):
    from transfer_study.console import headline

    outputs = write_training(tmp_path)
    (tmp_path / "train.json").write_text("{not json")
    assert headline("train", outputs) is None
    (tmp_path / "train.json").unlink()
    assert headline("train", outputs) is None
    assert headline("evaluate", [str(tmp_path / "metrics.json")]) is None


def console_handler(**settings):
    """The plugin's handler as Snakemake sets it up, writing into a string."""
    import io
    from types import SimpleNamespace

    from snakemake_logger_plugin_transfer_study import LogHandler

    common = {"dryrun": False, "verbose": False, "stdout": False, "quiet": None, "printshellcmds": True}
    handler = LogHandler(SimpleNamespace(**{**common, **settings}), None)
    handler.stream = io.StringIO()
    handler.snakemake_console.setStream(handler.stream)
    return handler


def log(handler, message="", level=logging.INFO, **extra):
    handler.handle(logging.makeLogRecord({"msg": message, "levelno": level, "levelname": "X", **extra}))


def test_the_console_plugin_shows_one_line_per_finished_job_and_what_matters(tmp_path):
    from snakemake_interface_logger_plugins.common import LogEvent

    handler = console_handler()
    log(handler, "Building DAG of jobs...")
    log(handler, "Job stats: ...", event=LogEvent.RUN_INFO, stats={"train": 2, "evaluate": 1, "total": 3})
    outputs = write_training(tmp_path / "a")
    for jobid, experiment in ((4, "beans-2"), (5, "beans-3a")):
        wildcards = {"experiment": experiment, "seed": 0}
        log(
            handler,
            "rule train:",
            event=LogEvent.JOB_INFO,
            jobid=jobid,
            rule_name="train",
            wildcards=wildcards,
            output=outputs,
        )
        log(handler, "python scripts/train.py", event=LogEvent.SHELLCMD)
    log(handler, "Finished jobid: 5", event=LogEvent.JOB_FINISHED, job_id=5)
    log(handler, "1 of 9 steps (11%) done", event=LogEvent.PROGRESS, done=1, total=9)
    log(handler, "the workflow's own word")
    log(handler, "a rule's warning", level=logging.WARNING)
    log(handler, "Error in rule train:", level=logging.ERROR, event=LogEvent.JOB_ERROR)
    lines = handler.stream.getvalue().splitlines()
    assert lines[0] == "3 jobs to run: train 2, evaluate 1"
    # The total is the run's 3 jobs, not the DAG's 9; the finished job is 5, not the first started.
    assert lines[1].startswith(
        "1/3 train beans-3a seed 0: 0 s; kept epoch 2 of 3, validation accuracy 25.0 %"
    )
    assert lines[2:] == ["the workflow's own word", "a rule's warning", "Error in rule train:"]


@pytest.mark.parametrize("setting", ["dryrun", "verbose"])
def test_a_dry_run_or_verbose_run_shows_snakemakes_own_blocks(setting):
    from snakemake_interface_logger_plugins.common import LogEvent

    handler = console_handler(**{setting: True})
    log(handler, "Building DAG of jobs...")
    log(
        handler,
        "rule train:\n    jobid: 4",
        event=LogEvent.JOB_INFO,
        jobid=4,
        rule_name="train",
        wildcards={},
        output=[],
    )
    # As Snakemake's own console: a blank line before each run of job blocks.
    assert handler.stream.getvalue() == "Building DAG of jobs...\n\nrule train:\n    jobid: 4\n"


def test_snakemake_finds_the_console_plugin_by_its_name():
    from snakemake_interface_logger_plugins.registry import LoggerPluginRegistry

    plugin = LoggerPluginRegistry().get_plugin("transfer-study")
    assert plugin.log_handler.__module__ == "snakemake_logger_plugin_transfer_study"
