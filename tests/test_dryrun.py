"""The full study plans the right jobs, and a broken config fails before any job, naming the key."""

import re

import yaml
from conftest import snakemake


def planned_jobs(output: str) -> dict[str, int]:
    """Job counts from the table `snakemake -n` prints ("job  count" rows)."""
    table = output.split("Job stats:")[1].split("total")[0]
    return {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_full_study_plans_downloads_preprocessing_and_every_run(workflow_dir):
    result = snakemake(workflow_dir, "-n", "--cores", "4", "--resources", "gpu=1")
    jobs = planned_jobs(result.stdout + result.stderr)
    config = yaml.safe_load((workflow_dir / "config/config.yaml").read_text())
    runs = len(config["experiments"]) * len(config["seeds"])
    assert jobs["download"] == 6  # four data archives, two weight files
    assert jobs["preprocess"] == 2  # beans at 224 px, CIFAR-10 at 32 px
    assert jobs["train"] == runs == 27
    assert jobs["evaluate"] == runs
    assert "synthetic_archive" not in jobs and "pretrain_backbone" not in jobs


def test_demo_plans_the_same_dag_without_downloads(workflow_dir):
    result = snakemake(workflow_dir, "-n", "--cores", "2", "--configfile", "config/demo.yaml")
    jobs = planned_jobs(result.stdout + result.stderr)
    assert "download" not in jobs
    assert jobs["synthetic_archive"] == 4
    assert jobs["pretrain_backbone"] == 2
    assert jobs["preprocess"] == 2
    assert jobs["train"] == jobs["evaluate"] == (9 + 2 * 2) * 2  # nine experiments and the 2 x 2 grid
    assert jobs["plot_grid"] == 1


def test_unknown_weights_source_is_rejected_with_key_path_and_choices(workflow_dir):
    path = workflow_dir / "config/demo.yaml"
    path.write_text(path.read_text().replace("weights: squeezenet_imagenet", "weights: alexnet"))
    result = snakemake(workflow_dir, "-n", "--configfile", "config/demo.yaml", check=False)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "experiments.cifar10-stage1.weights: unknown source 'alexnet'" in message
    assert "squeezenet_imagenet" in message and "config/demo.yaml" in message


def test_the_cifar10_jpeg_config_validates_and_plans_the_three_stages(workflow_dir):
    """config/cifar10-jpeg.yaml (docs/results.md): the two zips by file:// url, the train/test layout."""
    result = snakemake(workflow_dir, "-n", "--cores", "2", "--configfile", "config/cifar10-jpeg.yaml")
    message = result.stdout + result.stderr
    jobs = planned_jobs(message)
    config = yaml.safe_load((workflow_dir / "config/cifar10-jpeg.yaml").read_text())
    assert list(config["experiments"]) == ["cifar10-stage1", "cifar10-stage2", "cifar10-stage3"]
    assert set(config["datasets"]["cifar10"]["splits"]) == {"train", "test"}
    assert jobs["download"] == 3  # the two zips and the SqueezeNet weights
    assert jobs["preprocess"] == 1
    assert jobs["train"] == jobs["evaluate"] == 3 * len(config["seeds"])
    assert "Claims not checked" not in message  # the beans claims are no concern of a CIFAR-10 config
