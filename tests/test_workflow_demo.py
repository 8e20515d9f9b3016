"""The offline demo, run end to end by Snakemake once per session."""

import csv
import json

import numpy as np
import pytest
import yaml

from transfer_study.arrays import load_arrays

pytestmark = pytest.mark.workflow


def demo_config(workdir):
    return yaml.safe_load((workdir / "config/demo.yaml").read_text())


def test_every_experiment_and_seed_is_trained_and_evaluated(demo_run):
    config = demo_config(demo_run)
    results = demo_run / config["results"]
    for name in config["experiments"]:
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
    assert len(rows) == len(config["experiments"]) * len(config["seeds"])


def test_preprocessed_demo_data_went_through_the_real_readers(demo_run):
    results = demo_run / demo_config(demo_run)["results"]
    stats = json.loads((results / "data/beans-32px.stats.json").read_text())
    # The synthetic training archive holds one member that is not an image, like the real one.
    assert [entry["member"] for entry in stats["skipped"]] == ["train/healthy/notes.txt.jpg"]
    assert stats["splits"]["train"]["total"] == 72
    cifar = load_arrays(results / "data/cifar10-32px.npz")
    assert cifar["x_train"].shape == (400, 32, 32, 3) and cifar["x_validation"].shape[0] == 100
    assert cifar["class_names"][0] == "airplane"


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
