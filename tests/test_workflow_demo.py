"""The offline demo, run end to end by Snakemake once per test session."""

import csv
import json
import re
import shutil

import numpy as np
import pytest
import yaml
from conftest import REPO

from transfer_study.data.arrays import load_arrays

pytestmark = pytest.mark.workflow


def demo_config(workdir):
    return yaml.safe_load((workdir / "config/demo.yaml").read_text())


def every_experiment(workdir) -> list[str]:
    """The experiments written in the demo config and those its grids expand to."""
    from transfer_study.grids import expand_grids

    config = demo_config(workdir)
    grids, problems = expand_grids(config, yaml.safe_load((workdir / "config/schema.yaml").read_text()))
    assert problems == [] and grids
    return list(config["experiments"])


def test_every_experiment_and_seed_is_trained_and_evaluated(demo_run):
    config = demo_config(demo_run)
    results = demo_run / config["results"]
    for name in every_experiment(demo_run):
        for seed in config["seeds"]:
            run = results / "runs" / name / f"seed{seed}"
            metrics = json.loads((run / "metrics.json").read_text())
            summary = json.loads((run / "train.json").read_text())
            with open(run / "history.csv") as handle:
                history = list(csv.DictReader(handle))
            assert metrics["experiment"] == name and metrics["seed"] == seed
            assert len(history) == summary["epochs_run"] >= 1
            assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
            matrix = np.array(metrics["test"]["confusion_matrix"])
            assert matrix.sum() == metrics["test"]["images"]
            assert summary["backend"] == "tensorflow"
            assert not (run / "backup").exists()  # resume state is dropped once a job is done
    with open(results / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(every_experiment(demo_run)) * len(config["seeds"])


def test_preprocessed_demo_data_went_through_the_real_readers(demo_run):
    results = demo_run / demo_config(demo_run)["results"]
    stats = json.loads((results / "data/beans-32px.stats.json").read_text())
    # The synthetic training archive holds one member that is not an image, like the real one.
    assert [entry["member"] for entry in stats["skipped"]] == ["train/healthy/notes.txt.jpg"]
    assert stats["splits"]["train"]["total"] == 72
    cifar = load_arrays(results / "data/cifar10-32px.npz")
    assert cifar["x_train"].shape == (400, 32, 32, 3) and cifar["x_validation"].shape[0] == 100
    assert cifar["class_names"][0] == "airplane"


def test_each_evaluation_names_every_test_image_with_its_prediction(demo_run):
    """predictions.csv has one row per test image, in the preprocessed file's order, naming its archive
    and member; its predicted classes are the confusion matrix's columns."""
    config = demo_config(demo_run)
    results = demo_run / config["results"]
    beans = load_arrays(results / "data/beans-32px.npz")
    run = results / "runs/beans-3c/seed0"
    with open(run / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    metrics = json.loads((run / "metrics.json").read_text())
    assert [row["member"] for row in rows] == [str(name) for name in beans["members_test"]]
    assert {row["source"] for row in rows} == {"test.zip"}
    assert all(row["member"].startswith("test/") for row in rows)
    assert [row["true_class"] for row in rows] == [beans["class_names"][label] for label in beans["y_test"]]
    names = beans["class_names"]
    matrix = np.zeros((len(names), len(names)), dtype=int)
    for row in rows:
        probabilities = [float(row[f"p_{name}"]) for name in names]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
        assert row["predicted_class"] == names[int(np.argmax(probabilities))]
        matrix[names.index(row["true_class"]), names.index(row["predicted_class"])] += 1
    assert matrix.tolist() == metrics["test"]["confusion_matrix"]
    cifar = load_arrays(results / "data/cifar10-32px.npz", prefixes=("members_",))
    assert str(cifar["members_test"][0]) == "test_batch/synthetic_0.png"
    assert metrics["test"]["balanced_accuracy"] is not None and metrics["validation"]["macro_f1"] is not None


def test_every_run_has_a_model_card_whose_numbers_are_its_runs(demo_run):
    config = demo_config(demo_run)
    results = demo_run / config["results"]
    for name in every_experiment(demo_run):
        for seed in config["seeds"]:
            run = results / "runs" / name / f"seed{seed}"
            card = json.loads((run / "model_card.json").read_text())
            metrics = json.loads((run / "metrics.json").read_text())
            summary = json.loads((run / "train.json").read_text())
            assert (card["experiment"], card["seed"]) == (name, seed)
            assert card["data"]["class_names"] == metrics["class_names"]
            for split in ("train", "validation", "test"):
                assert card["metrics"][split]["accuracy"] == metrics[split]["accuracy"]
                assert card["metrics"][split]["loss"] == metrics[split]["loss"]
            assert card["metrics"]["test"]["macro_f1"] == metrics["test"]["macro_f1"]
            for key in ("epochs_run", "kept_epoch", "train_seconds", "backend", "versions"):
                assert card["training"][key] == summary[key]
            accuracies = [
                json.loads((results / "runs" / name / f"seed{s}/metrics.json").read_text())["test"][
                    "accuracy"
                ]
                for s in config["seeds"]
            ]
            assert card["seed_spread"]["test_accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
            text = (run / "model_card.md").read_text()
            assert f"{100 * metrics['test']['accuracy']:.2f} %" in text and "## Limitations" in text


def test_the_exported_runs_agree_with_their_keras_models_in_each_runtime(demo_run):
    """The demo exports seed 0 of a SqueezeNet and a VGG16 (keras.applications) run to every format;
    each check compared the runtime's answers with the Keras model's, and the model card and the
    report name each export by its hash."""
    from transfer_study.checksums import file_sha256, tree_sha256
    from transfer_study.export import FORMATS

    config = demo_config(demo_run)
    results = demo_run / config["results"]
    exported = {name: spec["export"] for name, spec in config["experiments"].items() if spec.get("export")}
    assert {config["experiments"][name]["model"] for name in exported} == {"squeezenet", "vgg16"}
    html = (results / "report/report.html").read_text()
    for name, export in exported.items():
        for seed in config["seeds"]:
            run = results / "runs" / name / f"seed{seed}"
            if seed not in export["seeds"]:
                assert not (run / "export").exists()
                continue
            checks = json.loads((run / "export/check.json").read_text())
            assert list(checks) == export["formats"] == list(FORMATS)
            card = json.loads((run / "model_card.json").read_text())
            assert card["files"]["model.keras"]["sha256"] == file_sha256(run / "model.keras")
            test_images = json.loads((run / "metrics.json").read_text())["test"]["images"]
            for format_name, check in checks.items():
                assert check["passed"] and check["images"] == min(64, test_images)
                assert check["top1_equal"] == check["images"]
                assert check["max_probability_difference"] <= 1e-4
                assert check["sha256"] == tree_sha256(run / "export" / check["artifact"])
                assert card["files"][check["artifact"]]["sha256"] == check["sha256"]
                assert f'<tr data-format="{format_name}"><td>{name}</td><td>{seed}</td>' in html
                assert check["sha256"][:16] in (run / "model_card.md").read_text()


def test_the_readmes_three_ways_to_run_an_export_answer_as_the_keras_model(demo_run, monkeypatch):
    """README's snippet, run as written on the demo's export: each runtime's answer for its image."""
    from transfer_study.training.evaluation import load_trained_model

    readme = (REPO / "README.md").read_text()
    blocks = readme.split("```python\n")[1:]
    (snippet,) = [block.split("```")[0] for block in blocks if "saved_model.load" in block]
    monkeypatch.chdir(demo_run)
    namespace = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    x, run = namespace["x"], demo_run / namespace["run"]
    expected = load_trained_model(run.parent / "model.keras").predict(x, verbose=0)
    answers = {
        "saved_model": namespace["served"].serve(x).numpy(),
        "onnx": namespace["session"].run(None, {"image": x})[0],
        "litert": namespace["probabilities"],  # the snippet's last answer
    }
    for name, answer in answers.items():
        np.testing.assert_allclose(answer, expected, atol=1e-4, err_msg=name)


def test_demo_weights_pass_through_the_real_loaders(demo_run):
    import h5py

    resources = demo_run / demo_config(demo_run)["resources"]
    with h5py.File(resources / "weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5") as f:
        assert b"fire9/expand3x3" in list(f.attrs["layer_names"])
    log = (demo_run / "results/demo/logs/train/cifar10-stage1/seed0.log").read_text()
    assert "Epoch 1/2" in log


def test_a_second_run_has_nothing_to_do(demo_run, tmp_path):
    from conftest import snakemake

    result = snakemake(demo_run, "-n", "--cores", "2", "--configfile", "config/demo.yaml")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_demo_report_in_html_and_pdf_shows_the_runs_numbers(demo_run):
    """The report the demo builds: warned as synthetic, every table number from the run's metrics."""
    import html.parser

    results = demo_run / demo_config(demo_run)["results"]
    report = results / "report"
    if shutil.which("latexmk"):  # where TeX is missing the PDF is left out (tests/test_pdf.py)
        assert (report / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert (report / "report.tex").exists()
    page = (report / "report.html").read_text()
    assert 'id="demo-warning"' in page

    class Means(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.values, self.row = {}, None

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "tr" and "data-experiment" in attrs:
                self.row = attrs["data-experiment"]
            if attrs.get("data-kind") == "mean":
                self.values[(self.row, attrs["data-metric"])] = attrs["data-value"]

    parser = Means()
    parser.feed(page)
    for name in demo_config(demo_run)["experiments"]:
        metrics = json.loads((results / "runs" / name / "seed0/metrics.json").read_text())
        shown = float(parser.values[(name, "test_accuracy")])
        assert shown == pytest.approx(metrics["test"]["accuracy"], rel=1e-12)
        assert float(parser.values[(name, "validation_loss")]) == pytest.approx(metrics["validation"]["loss"])
    assert "data:image/png;base64," in page and 'src="figures/' not in page  # self-contained
    for study in ("beans", "cifar10"):  # each study's gallery of its best model's mistakes
        assert f'data-figure="mistakes-{study}"' in page
        assert (report / f"figures/mistakes-{study}.pdf").exists()


def test_snakemake_report_archive_of_the_demo(demo_run):
    import zipfile

    from conftest import snakemake

    snakemake(demo_run, "--configfile", "config/demo.yaml", "--report", "report.zip")
    with zipfile.ZipFile(demo_run / "report.zip") as archive:
        names = archive.namelist()
    registered_files = ["report.html", "curves-cifar10-3.png", "confusion-beans.png", "grid-cifar10-grid.png"]
    registered_files.append("mistakes-cifar10.png")
    for registered in registered_files + (["report.pdf"] if shutil.which("latexmk") else []):
        assert any(name.endswith("/" + registered) for name in names), (registered, names)


def test_pretrained_backbones_beat_training_from_scratch(demo_run):
    # The demo's stand-in for ImageNet must carry features the beans runs can use, as the real one does.
    results = demo_run / demo_config(demo_run)["results"]
    with open(results / "summary.csv") as handle:
        accuracy = {row["experiment"]: float(row["validation_accuracy"]) for row in csv.DictReader(handle)}
    from_scratch = max(accuracy["beans-1-softmax"], accuracy["beans-1-relu"])
    fine_tuned = max(accuracy["beans-3a"], accuracy["beans-3b"])
    assert fine_tuned >= 0.6, accuracy  # three classes: chance is 1/3
    assert fine_tuned >= from_scratch + 0.15, accuracy


def test_the_console_shows_progress_and_the_reports_path_not_the_libraries_logs(demo_run):
    """TensorFlow's C++ logging goes to each job's log; the run ends by naming the report."""
    from conftest import demo_console

    console = demo_console(demo_run)
    for noise in ("cuda", "cuInit", "oneDNN", "absl::InitializeLog", "NodeDef", "I0000", "E0000"):
        assert noise not in console, noise
    # One line per finished job, counted against the run's jobs; Snakemake's blocks only in its log.
    progress = [line for line in console.splitlines() if re.match(r"\d+/\d+ \w+", line)]
    planned = re.search(r"^(\d+) jobs to run: ", console, re.M)
    assert planned and len(progress) == int(planned.group(1)), console[-3000:]
    assert progress[-1].startswith(f"{planned.group(1)}/{planned.group(1)} all: ")
    trainings = [line for line in progress if " train " in line]
    assert trainings and all("; kept epoch " in line and "validation accuracy" in line for line in trainings)
    assert "rule train:" not in console and "Finished jobid" not in console
    snakemake_log = sorted((demo_run / ".snakemake/log").glob("*.snakemake.log"))[0]  # the demo's run
    assert snakemake_log.read_text().count("rule train:") == len(trainings)
    last = console.strip().splitlines()
    report = [line for line in last[-6:] if line.startswith("Report: results/demo/report/report.html")]
    assert report and report[0].endswith("summary table: results/demo/summary.csv"), last[-6:]
    assert ("report/report.pdf" in report[0]) == bool(shutil.which("latexmk"))
    log = (demo_run / "results/demo/logs/train/cifar10-stage1/seed0.log").read_text()
    assert "oneDNN" in log or "cuda" in log.lower()  # the noise went to the job's log instead


def test_no_model_job_took_more_memory_than_it_declared(demo_run):
    """Each training and evaluation's peak (its benchmark file's max_rss) within the mem_mb that
    Snakemake's log shows it declared (models/memory.py)."""
    from conftest import job_memory

    snakemake_log = sorted((demo_run / ".snakemake/log").glob("*.snakemake.log"))[0]
    declared = job_memory(snakemake_log.read_text())
    benchmarks = {"train": "train/{experiment}/seed{seed}", "evaluate": "evaluate/{experiment}/seed{seed}"}
    benchmarks["export_model"] = "export/{experiment}/seed{seed}/{format}"
    checked = []
    for (rule, wildcards), mem_mb in declared.items():
        if rule not in benchmarks:
            continue
        values = dict(part.split("=") for part in wildcards.split(", "))
        path = demo_run / "results/demo/benchmarks" / f"{benchmarks[rule].format(**values)}.tsv"
        with open(path) as handle:
            peak = float(next(csv.DictReader(handle, delimiter="\t"))["max_rss"])
        assert peak <= mem_mb, (rule, wildcards, peak, mem_mb)
        checked.append(rule)
    # Every run of the demo's one seed trained and evaluated; two runs exported in three formats.
    assert sorted(checked) == sorted(["train"] * 13 + ["evaluate"] * 13 + ["export_model"] * 6)


def test_every_job_imports_the_workflows_own_package(demo_run):
    """The suite's environment has the package installed from the repository: another checkout than the
    demo's copy. Every job still runs the copy's own src/, and its log says which one it imported."""
    import re
    from pathlib import Path

    own = (demo_run / "src/transfer_study").resolve()
    logs = list((demo_run / "results/demo/logs").rglob("*.log"))
    imported = {}
    for log in logs:
        found = re.search(
            r"started [\d.]+ s after its process, \d+ thread\(s\); package (.+)$", log.read_text(), re.M
        )
        if found:
            imported[log] = Path(found.group(1)).resolve()
    assert len(imported) >= 30  # every script job of the demo (one seed)
    assert set(imported.values()) == {own}


def test_the_demo_grid_is_in_the_summary_and_both_report_formats(demo_run):
    """The 2 x 2 grid: one column per axis in the summary, its figure and table in HTML and LaTeX."""
    results = demo_run / demo_config(demo_run)["results"]
    with open(results / "summary.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row["grid"] == "cifar10-grid"]
    assert {(row["grid.optimizer.learning_rate"], row["grid.trainable"]) for row in rows} == {
        (rate, unit) for rate in ("0.001", "0.0001") for unit in ("none", "fire8+fire9")
    }
    for row in rows:  # the axis columns say what the run's own settings say
        assert float(row["learning_rate"]) == float(row["grid.optimizer.learning_rate"])
    page = (results / "report/report.html").read_text()
    assert 'data-figure="grid-cifar10-grid"' in page and 'data-grid="cifar10-grid"' in page
    best = max(rows, key=lambda row: float(row["validation_accuracy"]))  # one seed: the mean is the run
    assert f'data-best="{best["experiment"]}"' in page
    tex = (results / "report/report.tex").read_text()
    assert str((results / "report/figures/grid-cifar10-grid.pdf").resolve()) in tex
    assert (results / "report/figures/grid-cifar10-grid.pdf").read_bytes()[:5] == b"%PDF-"
