"""The full study plans the right jobs, and a broken config fails before any job, naming the key."""

import re

import yaml
from conftest import job_memory, snakemake


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


def test_model_jobs_declare_memory_from_their_model_and_batch_within_the_limit(workflow_dir):
    """VGG16 at 224 px asks for more than SqueezeNet at 32 px, training more than evaluation; a limit
    given with --resources caps what one job asks for, so that a job larger than the limit runs alone."""
    result = snakemake(workflow_dir, "-n", "--cores", "4")
    memory = job_memory(result.stdout + result.stderr)
    vgg_train = memory["train", "experiment=beans-3c, seed=0"]
    squeeze_train = memory["train", "experiment=cifar10-stage3, seed=0"]
    squeeze_evaluate = memory["evaluate", "experiment=cifar10-stage3, seed=0"]
    assert vgg_train > squeeze_train > 0 and squeeze_train >= squeeze_evaluate
    # Every seed of an experiment asks for the same; a frozen VGG16 for as much as a trained one.
    assert (
        memory["train", "experiment=beans-3c, seed=2"]
        == vgg_train
        == memory["train", "experiment=beans-2, seed=0"]
    )

    capped = snakemake(workflow_dir, "-n", "--cores", "4", "--resources", f"mem_mb={squeeze_train + 100}")
    limited = job_memory(capped.stdout + capped.stderr)
    assert limited["train", "experiment=beans-3c, seed=0"] == squeeze_train + 100
    assert limited["train", "experiment=cifar10-stage3, seed=0"] == squeeze_train


def test_without_a_memory_limit_a_run_takes_this_machines_memory_as_its_limit(workflow_dir):
    """A job too large for the machine asks for all of its memory, so it runs alone, not beside others."""
    from transfer_study.models.memory import machine_memory_mb

    path = workflow_dir / "config/config.yaml"
    config = yaml.safe_load(path.read_text())
    config["experiments"]["beans-3c"]["image_size"] = 2048  # VGG16 at 2048 px: some 250 GB in training
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(workflow_dir, "-n", "--cores", "4")
    memory = job_memory(result.stdout + result.stderr)
    assert memory["train", "experiment=beans-3c, seed=0"] == machine_memory_mb()
    assert memory["train", "experiment=beans-3b, seed=0"] < machine_memory_mb()
