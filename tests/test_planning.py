"""transfer_study.planning: what the Snakefile settles before any job, run here without a workflow."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from transfer_study import planning
from transfer_study.config import training_spec
from transfer_study.failures import failure_line

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "config/schema.yaml").read_text())
CLAIMS = str(REPO / "config/claims.yaml")


def fill_defaults(config: dict) -> None:
    """What the Snakefile passes: Snakemake's validation, filling the schema's defaults in."""
    validate(config, str(REPO / "config/schema.yaml"), set_default=True)


def demo_config(tmp_path) -> dict:
    """config/demo.yaml as written, its results below tmp_path."""
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["results"] = str(tmp_path / "results")
    return config


def plan(config, **settings):
    chosen = {"in_main_process": True, "latexmk": None, "uses_conda": False, "claims_path": CLAIMS}
    return planning.plan_study(config, SCHEMA, fill_defaults, **{**chosen, **settings})


def test_the_demo_plans_its_grid_and_leaves_the_pdf_out_without_tex(tmp_path):
    config = demo_config(tmp_path)
    found = plan(config)
    assert list(found.grids) == ["cifar10-grid"]
    assert len(found.grids["cifar10-grid"].points) == 4
    # The grid's experiments are in the config now, with the defaults filled in.
    assert set(found.grids["cifar10-grid"].points) <= set(config["experiments"])
    assert config["experiments"]["beans-2"]["optimizer"]["name"] == "adam"
    assert found.pdf.build is False and found.failed_runs == []
    assert found.messages[0].startswith("PDF report: skipped, latexmk is not on PATH")
    assert (
        found.messages[1]
        == "Grid cifar10-grid: 2 learning_rate x 2 trainable = 4 experiments, 8 training jobs (2 seeds)."
    )
    assert len(found.messages) == 2
    assert plan(demo_config(tmp_path), latexmk="/usr/bin/latexmk").pdf.build is True


def test_the_digest_follows_what_the_results_depend_on_only(tmp_path):
    base = plan(demo_config(tmp_path)).config_digest
    changed = demo_config(tmp_path)
    changed["experiments"]["beans-2"]["epochs"] = 2
    run_setting = demo_config(tmp_path)
    run_setting["backup_every_seconds"] = 600
    assert plan(changed).config_digest != base
    assert plan(run_setting).config_digest == base


def test_schema_problems_come_first_and_nothing_is_filled_in(tmp_path):
    config = demo_config(tmp_path)
    config["experiments"]["beans-2"]["epochs"] = "many"
    config["seeds"] = [0, "one"]
    filled = []
    with pytest.raises(planning.PlanningError) as raised:
        planning.checked_config(config, SCHEMA, filled.append)
    assert filled == []
    assert any(problem.startswith("experiments.beans-2.epochs:") for problem in raised.value.problems)
    assert any(problem.startswith("seeds") for problem in raised.value.problems)
    assert str(raised.value).startswith("invalid config:\n  ")


def test_a_grid_experiments_problem_is_named_by_the_grids_key(tmp_path):
    config = demo_config(tmp_path)
    config["grids"]["cifar10-grid"]["axes"]["trainable"] = ["none", ["fire8", "fire99"]]
    with pytest.raises(planning.PlanningError) as raised:
        plan(config)
    [problem] = raised.value.problems
    assert problem.startswith("grids.cifar10-grid.axes.trainable: value fire8+fire99: unknown squeezenet")


def test_a_pdf_required_without_tex_is_a_problem_but_never_inside_a_job(tmp_path):
    config = demo_config(tmp_path)
    config["report"]["pdf"] = True
    with pytest.raises(planning.PlanningError, match="report.pdf"):
        plan(copy.deepcopy(config))
    inside = plan(config, in_main_process=False)
    assert inside.pdf.build is False and inside.pdf.reason == "not planned inside a job"


def test_a_run_that_failed_with_the_same_experiment_is_not_retried(tmp_path):
    config = demo_config(tmp_path)
    plan(config)  # fills the defaults in, as training_spec expects
    log = Path(config["results"]) / "logs/train/beans-2/seed1.log"
    log.parent.mkdir(parents=True)
    log.write_text(f"...\n{failure_line(training_spec(config, 'beans-2'))}\n")
    again = plan(demo_config(tmp_path))
    assert again.failed_runs == [("beans-2", 1)]
    assert any(line.startswith("Not retried: beans-2 seed 1 failed") for line in again.messages)
    # Changed, the experiment is tried again; with its model present, it is no failure.
    changed = demo_config(tmp_path)
    changed["experiments"]["beans-2"]["epochs"] = 3
    assert plan(changed).failed_runs == []
    model = Path(planning.run_folder(config["results"], "beans-2", 1)) / "model.keras"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"")
    assert plan(demo_config(tmp_path)).failed_runs == []


def test_the_claims_file_is_checked_and_a_renamed_experiment_warned_about(tmp_path):
    broken = tmp_path / "claims.yaml"
    broken.write_text("beans:\n  claims:\n    - {metric: test_accuracy, margin: '2%'}\n")
    with pytest.raises(planning.PlanningError) as raised:
        plan(demo_config(tmp_path), claims_path=str(broken))
    assert all(problem.startswith(f"{broken}: beans/claims.0: ") for problem in raised.value.problems)
    assert len(raised.value.problems) >= 2  # no id, and a margin written as text

    config = demo_config(tmp_path)
    config["experiments"]["beans-two"] = config["experiments"].pop("beans-2")
    found = plan(config)
    assert "beans-2" in found.messages[-1] and CLAIMS in found.messages[-1]


def test_set_aside_backups_are_counted_in_one_line_naming_the_command(tmp_path):
    config = demo_config(tmp_path)
    results = Path(config["results"])
    for seed, stamp in ((0, "20250131-142501"), (1, "20250131-142502")):
        aside = Path(planning.run_folder(config["results"], "beans-2", seed)) / f"backup.set-aside-{stamp}"
        aside.mkdir(parents=True)
        (aside / "latest.weights.h5").write_bytes(b"w" * 600_000)
        (aside / "SET_ASIDE.txt").write_text("Set aside on today: it was made with other settings.\n")
    (results / "runs/beans-2/seed0/backup").mkdir()  # the live backup counts for nothing
    (results / "runs/beans-2/seed0/backup/latest.weights.h5").write_bytes(b"w" * 600_000)
    (results / "runs/beans-2/seed0/backup.set-aside-20250130-080000").mkdir()  # no reason: not one

    found = plan(config).messages
    [line] = [message for message in found if "set-aside" in message]
    assert line.startswith(f"2 set-aside backups (1.2 MB) in {results / 'runs'}, left by training jobs")
    assert f"`python -m transfer_study.set_aside {results}` lists them" in line
    assert f"`python -m transfer_study.set_aside {results} --remove` deletes them" in line
    # Not inside a job (which parses the Snakefile again and has no console).
    assert not any(
        "set-aside" in message for message in plan(demo_config(tmp_path), in_main_process=False).messages
    )
