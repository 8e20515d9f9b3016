"""The PDF report is optional where TeX is missing, and that is decided before any job runs."""

import os
import shutil

import pytest
from conftest import snakemake, snakemake_log
from test_rebuild import planned, rules_of
from workflow_copy import copy_finished_run

from transfer_study.report.pdf import PdfUnavailable, plan_pdf, skipped_message


def test_auto_builds_where_latexmk_is_and_skips_where_it_is_not():
    assert plan_pdf("auto", "/usr/bin/latexmk").build
    skipped = plan_pdf("auto", None)
    assert not skipped.build and "latexmk is not on PATH" in skipped.reason
    line = skipped_message(skipped)
    assert "apt-get install latexmk" in line and "--use-conda" in line and "envs/latex.yaml" in line


def test_true_without_latexmk_is_an_error_naming_the_setting_and_false_never_builds():
    with pytest.raises(PdfUnavailable, match=r"report\.pdf: true, but latexmk is not on PATH"):
        plan_pdf(True, None)
    assert plan_pdf(True, "/usr/bin/latexmk").build
    assert not plan_pdf(False, "/usr/bin/latexmk").build
    never = skipped_message(plan_pdf(False, None))
    assert never == "PDF report: not built (report.pdf: false in the config)."


def test_conda_brings_its_own_latexmk():
    assert plan_pdf(True, None, conda=True).build and plan_pdf("auto", None, conda=True).build


@pytest.mark.parametrize("setting", ["yes", 1, None])
def test_other_settings_are_refused(setting):
    with pytest.raises(ValueError, match="auto, true or false"):
        plan_pdf(setting, None)


def path_without_latexmk(tmp_path) -> str:
    """PATH as it is, but with every folder that holds latexmk replaced by a copy (of links) without it."""
    folders = []
    for index, folder in enumerate(os.environ["PATH"].split(os.pathsep)):
        if not folder or not (os.path.isdir(folder) and os.path.exists(os.path.join(folder, "latexmk"))):
            folders.append(folder)
            continue
        stand_in = tmp_path / f"bin{index}"
        stand_in.mkdir()
        for entry in os.listdir(folder):
            if entry != "latexmk":
                (stand_in / entry).symlink_to(os.path.join(folder, entry))
        folders.append(str(stand_in))
    return os.pathsep.join(folders)


@pytest.fixture
def finished(demo_run, tmp_path):
    workdir = tmp_path / "workflow"
    return copy_finished_run(demo_run, workdir)


@pytest.mark.workflow
def test_without_tex_the_report_stage_writes_html_and_tex_and_says_the_pdf_was_skipped(
    finished, tmp_path, monkeypatch
):
    report = finished / "results/demo/report"
    for name in ("report.html", "report.tex", "report.pdf", "context.json"):
        (report / name).unlink(missing_ok=True)
    monkeypatch.setenv("PATH", path_without_latexmk(tmp_path))
    assert shutil.which("latexmk") is None
    result = snakemake(finished, "--cores", "2", "--configfile", "config/demo.yaml")
    lines = result.stderr.splitlines()
    skipped = [index for index, line in enumerate(lines) if line.startswith("PDF report: skipped")]
    # Once before the first job, once at the end; the last words name the report.
    plan = next(index for index, line in enumerate(lines) if " jobs to run: " in line)
    assert len(skipped) == 2 and skipped[0] < plan < skipped[1]
    assert any(line.startswith("Report: results/demo/report/report.html;") for line in lines[-4:])
    assert "rule compile_pdf" not in snakemake_log(finished)
    assert (report / "report.tex").exists() and not (report / "report.pdf").exists()
    page = (report / "report.html").read_text()
    assert '<li id="pdf-status" data-built="false">PDF: not built' in page
    assert "latexmk is not on PATH" in page

    monkeypatch.undo()
    if shutil.which("latexmk") is None:
        pytest.skip("latexmk (TeX) not installed: no later run with TeX to try; .ci/run installs it")
    # A later run on a machine with TeX builds the PDF and nothing else.
    assert {name for name, _ in planned(finished)} == {"compile_pdf", "all"}


@pytest.mark.workflow
def test_pdf_true_without_latexmk_fails_at_planning_naming_the_setting(finished, tmp_path, monkeypatch):
    config = finished / "config/demo.yaml"
    config.write_text(config.read_text().replace("  pdf: auto\n", "  pdf: true\n"))
    monkeypatch.setenv("PATH", path_without_latexmk(tmp_path))
    result = snakemake(finished, "--cores", "2", "--configfile", "config/demo.yaml", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "report.pdf: true, but latexmk is not on PATH" in output and "config/demo.yaml" in output
    assert "Building DAG of jobs" not in output


@pytest.mark.workflow
def test_pdf_false_plans_no_pdf_even_with_tex(finished):
    config = finished / "config/demo.yaml"
    config.write_text(config.read_text().replace("  pdf: auto\n", "  pdf: false\n"))
    (finished / "results/demo/report/report.pdf").unlink(missing_ok=True)
    result = snakemake(finished, "-n", "--configfile", "config/demo.yaml")
    assert "PDF report: not built (report.pdf: false in the config)." in result.stderr
    assert rules_of(planned(finished), "compile_pdf") == set()
