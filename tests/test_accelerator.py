"""The study finds its GPU or says that it did not; without one, model jobs share no GPU token."""

import re

import pytest
from conftest import snakemake

from transfer_study.training.accelerator import (
    NoAccelerator,
    estimated_cpu_hours,
    gpu_visible,
    is_accelerator,
    no_gpu_message,
    probe_device,
    require_accelerator,
)
from transfer_study.training.runtime import device_name


def test_a_gpu_is_seen_from_its_device_files(tmp_path):
    devices = tmp_path / "dev"
    devices.mkdir()
    (devices / "nvidiactl").touch()  # the driver alone, no card
    assert not gpu_visible(devices, environ={})
    (devices / "nvidia0").touch()
    assert gpu_visible(devices, environ={})
    assert gpu_visible(devices, environ={"CUDA_VISIBLE_DEVICES": "0"})
    assert not gpu_visible(devices, environ={"CUDA_VISIBLE_DEVICES": ""})
    (devices / "nvidia0").unlink()
    (devices / "kfd").touch()  # AMD ROCm
    assert gpu_visible(devices, environ={})


def test_the_cpu_estimate_grows_with_image_area_and_epochs_and_shrinks_with_cores():
    small = {"model": "vgg16", "image_size": 32, "epochs": 1, "images": 1000}
    big = {**small, "image_size": 224}
    assert estimated_cpu_hours([big], cores=2) == pytest.approx(49 * estimated_cpu_hours([small], cores=2))
    two_on_four_cores = estimated_cpu_hours([small, small], cores=4)
    assert two_on_four_cores == pytest.approx(estimated_cpu_hours([small], cores=2))
    # The study's six beans runs (1034 + 133 images, 50 epochs, 224 px, three seeds) on 2 cores: days.
    beans = {"model": "vgg16", "image_size": 224, "epochs": 50, "images": 1034}
    assert estimated_cpu_hours([beans] * 18, cores=2) > 24


def test_the_probe_asks_the_backend_in_its_own_process():
    from workflow_copy import REPO

    device = probe_device(REPO / "src")
    assert device == device_name()
    assert is_accelerator(device) == gpu_visible()
    assert is_accelerator("NVIDIA H100 80GB HBM3")
    # A device the backend could not be asked about is no GPU (require_gpu must not pass on it).
    assert not is_accelerator("unknown (CUDA driver version is insufficient)")
    assert probe_device(REPO / "src", timeout=0.01).startswith("unknown (the backend did not answer")


def test_without_a_gpu_the_message_gives_the_estimate_and_the_way_out():
    message = no_gpu_message("tensorflow", "CPU (x86_64)", 101.4, 27)
    assert "27 training run(s)" in message and "roughly 101 hours" in message
    assert "make setup-gpu" in message and "require_gpu: true" in message
    with pytest.raises(NoAccelerator, match="require_gpu is true, but on this node"):
        require_accelerator("CPU (x86_64)", "on this node")
    require_accelerator("NVIDIA H100 80GB HBM3", "on this node")


@pytest.mark.workflow
def test_model_jobs_take_no_gpu_token_and_one_thread_where_no_gpu_is_visible(workflow_dir):
    if gpu_visible():
        pytest.skip("this machine has a GPU: model jobs take the token there")
    result = snakemake(workflow_dir, "-n", "--cores", "2", "--configfile", "config/demo.yaml")
    output = result.stdout + result.stderr
    blocks = output.split("\n\n")
    models = [block for block in blocks if re.search(r"rule (train|evaluate|pretrain_backbone):", block)]
    assert len(models) == 26 + 26 + 2  # (9 experiments + the 2 x 2 grid) x 2 seeds, twice; 2 backbones
    for block in models:
        assert "gpu=0" in block
        # Snakemake shows threads only above one: the pretraining takes two, every other job one.
        assert ("threads: 2" in block) == ("rule pretrain_backbone:" in block) and "threads: 4" not in block


@pytest.mark.workflow
def test_require_gpu_stops_a_run_before_its_first_job(workflow_dir):
    if gpu_visible():
        pytest.skip("this machine has a GPU")
    config = workflow_dir / "config/demo.yaml"
    config.write_text(config.read_text().replace("demo: true\n", "demo: true\nrequire_gpu: true\n"))
    result = snakemake(workflow_dir, "--cores", "2", "--configfile", "config/demo.yaml", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "require_gpu is true, but on this machine Keras's backend sees no GPU" in output
    assert "make setup-gpu" in output
    assert not (workflow_dir / "results").exists()  # not one job ran
