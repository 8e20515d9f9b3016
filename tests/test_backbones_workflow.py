"""The keras.applications backbones through the real workflow: config/backbones.yaml plans, and a tiny
study of all four runs end to end on synthetic beans, two of them from pretrained stand-in weights."""

import json

import pytest
import yaml
from conftest import REPO, snakemake
from test_dryrun import planned_jobs

from transfer_study import config as study_config
from transfer_study.models import registry

BACKBONES = ["resnet50v2", "efficientnetv2b0", "mobilenetv3small", "convnexttiny"]
PRETRAINED = ["efficientnetv2b0", "mobilenetv3small"]  # the others train from scratch


def test_backbones_config_is_a_valid_study_of_the_four_backbones(workflow_dir):
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config/backbones.yaml").read_text())
    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    assert study_config.schema_errors(config, schema) == []
    validate(config, str(REPO / "config/schema.yaml"), set_default=True)
    study_config.check_config(config)
    experiments = config["experiments"].values()
    assert sorted(experiment["model"] for experiment in experiments) == sorted(BACKBONES)
    for experiment in experiments:
        # Keras's own file for that backbone: url, name and hash as keras.applications has them.
        expected = registry.get(experiment["model"]).default_weights.as_source()
        assert config["sources"][experiment["weights"]] == expected
    assert config["results"] != "results" and config["resources"] != "resources"

    result = snakemake(workflow_dir, "-n", "--cores", "4", "--configfile", "config/backbones.yaml")
    jobs = planned_jobs(result.stdout + result.stderr)
    assert jobs["download"] == 3 + len(BACKBONES)
    assert jobs["train"] == jobs["evaluate"] == len(BACKBONES) * len(config["seeds"])


def tiny_study() -> dict:
    """Synthetic beans at 32 px, each backbone one epoch on one seed; two start from stand-in weights."""
    demo = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    sources = {}
    for split, count in (("train", 4), ("validation", 2), ("test", 2)):
        source = demo["sources"][f"beans_{split}"]
        source["synthetic"].update(images_per_class=count, image_size=32)
        sources[f"beans_{split}"] = source
    for name in PRETRAINED:
        file_name = registry.get(name).default_weights.file_name
        sources[f"{name}_standin"] = {
            "path": f"weights/{file_name}",
            "pretrain": {"model": name, "image_size": 32, "images_per_class": 2, "epochs": 1, "seed": 3},
        }
    experiments = {
        name: {
            "study": "backbones",
            "dataset": "beans",
            "model": name,
            "weights": f"{name}_standin" if name in PRETRAINED else None,
            "trainable": [list(registry.get(name).units)[-1]] if name in PRETRAINED else "all",
            "epochs": 1,
            "batch_size": 4,
        }
        for name in BACKBONES
    }
    return {
        "results": "results/tiny-backbones",
        "resources": "resources/tiny-backbones",
        "demo": True,
        "seeds": [0],
        "sources": sources,
        "datasets": {"beans": demo["datasets"]["beans"]},
        "experiments": experiments,
        "report": {"pdf": False},
    }


@pytest.mark.workflow
def test_the_four_backbones_train_evaluate_and_reach_the_report(workflow_dir, monkeypatch):
    # On PyTorch, which runs eagerly, three steps of a large network take seconds; TensorFlow first
    # traces its whole graph (about a minute for ConvNeXtTiny on two cores). The jobs' backend is also
    # the one their train.json records, so the run shows the families are backend-agnostic.
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    (workflow_dir / "config/tiny-backbones.yaml").write_text(yaml.safe_dump(tiny_study()))
    snakemake(workflow_dir, "--cores", "2", "--configfile", "config/tiny-backbones.yaml", timeout=600)

    results = workflow_dir / "results/tiny-backbones"
    resources = workflow_dir / "resources/tiny-backbones"
    for name in PRETRAINED:
        assert (resources / "weights" / registry.get(name).default_weights.file_name).stat().st_size > 0
    for name in BACKBONES:
        run = results / "runs" / name / "seed0"
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["experiment"] == name and 0.0 <= metrics["test"]["accuracy"] <= 1.0
        summary = json.loads((run / "train.json").read_text())
        assert summary["epochs_run"] == 1 and summary["backend"] == "torch"
    html = (results / "report/report.html").read_text()
    for name in BACKBONES:
        assert name in html
