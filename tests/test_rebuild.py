"""After a finished demo run, a change plans exactly the jobs it affects (snakemake -n)."""

import csv
import shutil

import pytest
import yaml
from conftest import dry_run_jobs
from workflow_copy import copy_finished_run

from transfer_study.data.formats import registry as formats
from transfer_study.models import registry as models

pytestmark = pytest.mark.workflow


@pytest.fixture
def finished(demo_run, tmp_path):
    """A private copy of the finished demo run (results, metadata and all) for one test to change."""
    workdir = tmp_path / "workflow"
    return copy_finished_run(demo_run, workdir)


def planned(workdir) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job `snakemake -n` would run on the demo config."""
    return set(dry_run_jobs(workdir, "config/demo.yaml"))


# The demo's runs with one seed: nine experiments and the four of its 2 x 2 grid.
RUNS = 9 + 4
GRID = "cifar10-grid"

# The PDF job is planned only where latexmk is (tests/test_pdf.py).
PDF_RULES = {"compile_pdf"} if shutil.which("latexmk") else set()
REPORT_RULES = {"report_context", "render_report", "all"} | PDF_RULES


def rules_of(jobs, rule):
    return {wildcards for name, wildcards in jobs if name == rule}


def edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_nothing_to_do_after_a_finished_run(finished):
    assert planned(finished) == set()


def test_one_experiment_changed_retrains_that_experiment_only(finished):
    config = finished / "config/demo.yaml"
    edit(config, "  beans-3a:\n    <<: *beans\n", "  beans-3a:\n    <<: *beans\n    batch_size: 8\n")
    jobs = planned(finished)
    assert rules_of(jobs, "train") == {"experiment=beans-3a, seed=0"}
    assert rules_of(jobs, "evaluate") == {"experiment=beans-3a, seed=0"}
    # Only the figures that show beans-3a are redrawn: its group's curves and the beans study figures.
    assert rules_of(jobs, "plot_curves") == {"study=beans, group=3"}
    assert rules_of(jobs, "plot_study") == rules_of(jobs, "plot_mistakes") == {"study=beans"}
    assert {name for name, _ in jobs} == {
        "train",
        "evaluate",
        "aggregate",
        "plot_curves",
        "plot_study",
        "plot_mistakes",
        "model_cards",
    } | REPORT_RULES


def test_labels_and_key_order_retrain_nothing(finished):
    config = finished / "config/demo.yaml"
    edit(config, 'label: "3-a"', 'label: "3-a (block5)"')
    edit(config, "    weights: squeezenet_imagenet\n    optimizer:", "    optimizer:")
    edit(
        config,
        "    epochs: 2\n    batch_size: 16\n",
        "    epochs: 2\n    weights: squeezenet_imagenet\n    batch_size: 16\n",
    )
    jobs = planned(finished)
    assert rules_of(jobs, "train") == set()
    # A label is presentation: the summary, the figures that print it and the report change, no run does.
    assert rules_of(jobs, "plot_curves") == {"study=beans, group=3"}
    assert {name for name, _ in jobs} <= {
        "aggregate",
        "plot_curves",
        "plot_study",
        "plot_mistakes",
        "model_cards",
    } | REPORT_RULES


def test_a_new_seed_adds_only_its_own_jobs(finished):
    edit(finished / "config/demo.yaml", "seeds: [0]", "seeds: [0, 5]")
    jobs = planned(finished)
    assert {wildcards.split("seed=")[1] for wildcards in rules_of(jobs, "train")} == {"5"}
    assert len(rules_of(jobs, "train")) == len(rules_of(jobs, "evaluate")) == RUNS
    assert rules_of(jobs, "preprocess") == set()


def test_a_dataset_change_reruns_that_dataset_chain_only(finished):
    edit(finished / "config/demo.yaml", "    image_size: 32\n  cifar10:", "    image_size: 36\n  cifar10:")
    jobs = planned(finished)
    assert rules_of(jobs, "preprocess") == {"dataset=beans, size=36"}
    assert {wildcards.split(",")[0] for wildcards in rules_of(jobs, "train")} == {
        f"experiment=beans-{name}" for name in ("1-softmax", "1-relu", "2", "3a", "3b", "3c")
    }


def test_model_code_edit_retrains_everything_and_a_touch_retrains_nothing(finished):
    models = finished / "src/transfer_study/models/build.py"
    models.touch()
    assert rules_of(planned(finished), "train") == set()
    models.write_text(models.read_text() + "\n# an edit\n")
    jobs = planned(finished)
    assert len(rules_of(jobs, "train")) == RUNS
    assert rules_of(jobs, "preprocess") == set()


def test_a_model_family_edit_reruns_the_jobs_of_that_family_only(finished):
    families = finished / "src/transfer_study/models/families"
    unused = families / "resnet50v2.py"  # registered, but no demo experiment uses it
    unused.write_text(unused.read_text() + "\n# an edit\n")
    # The summary and the report read the registry (model names), so they are redone; no model job is.
    model_rules = {"train", "evaluate", "pretrain_backbone", "preprocess", "synthetic_archive"}
    assert not {name for name, _ in planned(finished)} & model_rules
    squeezenet = families / "squeezenet.py"
    squeezenet.write_text(squeezenet.read_text() + "\n# an edit\n")
    jobs = planned(finished)
    retrained = {wildcards.split(",")[0] for wildcards in rules_of(jobs, "train")}
    assert retrained and all(run.startswith("experiment=cifar10-") for run in retrained)
    assert len(rules_of(jobs, "train")) == 3 + 4  # the three stages and the grid's four points
    assert rules_of(jobs, "pretrain_backbone") == {
        "path=weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"
    }
    assert rules_of(jobs, "preprocess") == set()


def test_evaluation_code_edit_does_not_retrain(finished):
    evaluation = finished / "src/transfer_study/training/evaluation.py"
    evaluation.write_text(evaluation.read_text() + "\n# an edit\n")
    jobs = planned(finished)
    assert rules_of(jobs, "train") == set()
    assert len(rules_of(jobs, "evaluate")) == RUNS


def test_template_edit_rerenders_only_that_format(finished):
    template = finished / "report/templates/report.html.j2"
    template.write_text(template.read_text().replace("<h1>", "<h1 class=title>", 1))
    assert planned(finished) == {("render_report", "kind=html"), ("all", "")}


def test_report_wording_edit_redraws_and_rerenders_without_retraining(finished):
    edit(finished / "report/strings.yaml", "  fig_epoch: epoch\n", "  fig_epoch: epoch number\n")
    rules = {name for name, _ in planned(finished)}
    assert rules == {"plot_curves", "plot_study", "plot_mistakes", "plot_grid"} | REPORT_RULES


def test_plotting_code_edit_redraws_without_retraining(finished):
    plots = finished / "src/transfer_study/report/plots.py"
    plots.write_text(plots.read_text() + "\n# an edit\n")
    jobs = planned(finished)
    assert len(rules_of(jobs, "plot_curves")) == 6 and len(rules_of(jobs, "plot_study")) == 2
    assert len(rules_of(jobs, "plot_mistakes")) == 2
    redrawn = {"plot_curves", "plot_study", "plot_mistakes", "render_report", "all"}
    assert {name for name, _ in jobs} == redrawn | PDF_RULES


def test_a_module_reached_only_through_another_reruns_the_jobs_whose_code_reaches_it(finished):
    """No script names caching.py or compiling.py: the training loop imports both, the demo's
    pretraining compiling.py alone."""
    caching = finished / "src/transfer_study/training/caching.py"
    written = caching.read_text()
    caching.write_text(written + "\n# an edit\n")
    jobs = planned(finished)
    assert len(rules_of(jobs, "train")) == RUNS
    assert rules_of(jobs, "pretrain_backbone") == set()
    assert rules_of(jobs, "preprocess") == set() and rules_of(jobs, "synthetic_archive") == set()
    caching.write_text(written)
    compiling = finished / "src/transfer_study/training/compiling.py"
    compiling.write_text(compiling.read_text() + "\n# an edit\n")
    jobs = planned(finished)
    assert len(rules_of(jobs, "train")) == RUNS
    assert len(rules_of(jobs, "pretrain_backbone")) == 2
    assert rules_of(jobs, "preprocess") == set() and rules_of(jobs, "synthetic_archive") == set()


def test_an_export_added_to_an_experiment_exports_it_without_retraining(finished):
    edit(
        finished / "config/demo.yaml",
        "  beans-3a:\n    <<: *beans\n",
        "  beans-3a:\n    <<: *beans\n    export: [onnx, litert]\n",
    )
    jobs = planned(finished)
    assert rules_of(jobs, "export_model") == {
        f"experiment=beans-3a, seed=0, format={name}" for name in ("onnx", "litert")
    }
    assert rules_of(jobs, "export_checks") == {"experiment=beans-3a, seed=0"}
    # The run's card lists its exported files; the report's provenance lists the exports.
    assert {name for name, _ in jobs} == {"export_model", "export_checks", "model_cards"} | REPORT_RULES


def test_export_code_edit_reexports_without_retraining_or_reevaluating(finished):
    exporter = finished / "src/transfer_study/export.py"
    exporter.write_text(exporter.read_text() + "\n# an edit\n")
    jobs = planned(finished)
    assert rules_of(jobs, "export_model") == {
        f"experiment={run}, seed=0, format={name}"
        for run in ("beans-3c", "cifar10-stage3")
        for name in ("saved_model", "onnx", "litert")
    }
    assert not {name for name, _ in jobs} & {"train", "evaluate", "aggregate", "plot_curves"}


def grid_point(learning_rate: str, trainable: str) -> str:
    return f"experiment={GRID}--learning_rate-{learning_rate}--trainable-{trainable}, seed=0"


def test_a_new_grid_value_trains_only_the_new_points(finished):
    edit(
        finished / "config/demo.yaml",
        "optimizer.learning_rate: [0.001, 0.0001]",
        "optimizer.learning_rate: [0.001, 0.0001, 0.00001]",
    )
    jobs = planned(finished)
    new_points = {grid_point("1e-5", "none"), grid_point("1e-5", "fire8_fire9")}
    assert rules_of(jobs, "train") == rules_of(jobs, "evaluate") == new_points
    # The grid has a figure of its own; the study's figures show the experiments written by hand.
    assert rules_of(jobs, "plot_grid") == {f"grid={GRID}"}
    assert rules_of(jobs, "plot_curves") == rules_of(jobs, "plot_study") == set()
    assert rules_of(jobs, "preprocess") == set() and rules_of(jobs, "pretrain_backbone") == set()


def test_a_removed_grid_value_trains_nothing(finished):
    rates = "optimizer.learning_rate: [0.001, 0.0001]"
    edit(finished / "config/demo.yaml", rates, "optimizer.learning_rate: [0.001]")
    jobs = planned(finished)
    assert rules_of(jobs, "train") == rules_of(jobs, "evaluate") == set()
    # The model cards are written by one job, whose list of runs lost the removed points.
    assert {name for name, _ in jobs} == {"aggregate", "plot_grid", "model_cards"} | REPORT_RULES
    assert rules_of(jobs, "plot_grid") == {f"grid={GRID}"}


def test_an_edited_grid_base_retrains_the_whole_grid_only(finished):
    base = "      epochs: {}\n      trainable: none\n"
    edit(finished / "config/demo.yaml", base.format(1), base.format(2))
    jobs = planned(finished)
    every_point = {grid_point(rate, unit) for rate in ("0.001", "0.0001") for unit in ("none", "fire8_fire9")}
    assert rules_of(jobs, "train") == every_point


def demo_runs_by_entry(workdir) -> dict[str, set[str]]:
    """Registry entry (a dataset format or a model family) -> the demo's experiments that use it."""
    config = yaml.safe_load((workdir / "config/demo.yaml").read_text())
    with open(workdir / "results/demo/summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    dataset_of_study = {spec["study"]: spec["dataset"] for spec in config["experiments"].values()}
    uses = {}
    for row in rows:
        dataset = dataset_of_study[row["study"]]
        for entry in (row["model"], config["datasets"][dataset]["format"]):
            uses.setdefault(entry, set()).add(row["experiment"])
    return uses


ENTRIES = [("format", name) for name in formats.names()] + [("model", name) for name in models.names()]
DECLARED_IN = {"format": "data/formats", "model": "models/families"}


@pytest.mark.parametrize(("kind", "name"), ENTRIES, ids=[f"{kind}-{name}" for kind, name in ENTRIES])
def test_editing_one_registry_entry_reruns_the_jobs_of_its_experiments_only(finished, kind, name):
    """A format's reader and synthetic writer, a family's builder: each in the entry's own module, so an
    edit there reruns the experiments that use the entry and nothing else of the models and the data
    (an edit of the CIFAR-10 reader retrains no beans run)."""
    path = next(
        path
        for path in sorted((finished / "src/transfer_study" / DECLARED_IN[kind]).glob("*.py"))
        if f'name="{name}"' in path.read_text()
    )
    path.write_text(path.read_text() + "\n# an edit\n")
    jobs = planned(finished)
    retrained = {wildcards.split(",")[0].removeprefix("experiment=") for wildcards in rules_of(jobs, "train")}
    assert retrained == demo_runs_by_entry(finished).get(name, set())
    config = yaml.safe_load((finished / "config/demo.yaml").read_text())
    read_with_it = {dataset for dataset, spec in config["datasets"].items() if spec["format"] == name}
    preprocessed = {
        wildcards.split(",")[0].removeprefix("dataset=") for wildcards in rules_of(jobs, "preprocess")
    }
    assert preprocessed == read_with_it
