"""What the workflow and the tests print: the report's path, the failed jobs' logs, the running jobs."""

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
