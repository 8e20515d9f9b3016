"""The frozen-feature cache: cached training gives what uncached training gives; where it must not apply,
it does not. Also the precision and jit_compile settings."""

import json

import keras
import numpy as np
import pytest
from conftest import kill_at_epoch
from test_training import tiny_arrays

from transfer_study.models.build import build_model
from transfer_study.training.caching import plan_frozen_cache
from transfer_study.training.compiling import compile_model, dtype_policy
from transfer_study.training.loop import train
from transfer_study.training.resume import TRAINED_MODEL, claim_backup, resume_point

CIFAR_LIKE = {
    "model": "squeezenet",
    "image_size": 32,
    "trainable": "none",
    "head": {"activation": "softmax", "dropout": 0.5},
    "augmentation": None,
    "optimizer": {"name": "adam", "learning_rate": 0.001},
    "epochs": 2,  # of three steps each: the optimizer state and dropout draws would differ by now
    "batch_size": 16,
    "early_stopping": None,
    "num_classes": 3,
    "jit_compile": False,  # XLA's compile time would be most of these short runs
}
STAGE_1 = {**CIFAR_LIKE, "trainable": "none"}
STAGE_2 = {**CIFAR_LIKE, "trainable": ["fire8", "fire9"]}
BEANS_LIKE = {
    **CIFAR_LIKE,
    "model": "vgg16",
    "trainable": ["block5"],
    "augmentation": {"horizontal_flip": True, "rotation": 0.2},
    "head": {"activation": "softmax", "dropout": 0.2},
}


def run(tmp_path, name, experiment, seed=0):
    keras.utils.set_random_seed(seed)
    return train(experiment, seed, tiny_arrays(), None, tmp_path / name / "backup", log=lambda _: None)


def assert_same_training(a, b):
    (model_a, rows_a, _), (model_b, rows_b, _) = a, b
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose([r[key] for r in rows_a], [r[key] for r in rows_b], rtol=1e-5, atol=1e-6)
    for x, y in zip(model_a.get_weights(), model_b.get_weights(), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
    # The optimizer state too (what a backup holds): the same slots, in the same order, the same values.
    slots_a, slots_b = model_a.optimizer.variables, model_b.optimizer.variables
    assert [v.shape for v in slots_a] == [v.shape for v in slots_b]
    for x, y in zip(slots_a, slots_b, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("experiment", "cut", "cached_layers"),
    [(STAGE_1, "fire9_concat", 37), (STAGE_2, "fire7_concat", 29)],
    ids=["stage1", "stage2"],
)
def test_cached_training_matches_uncached_training(tmp_path, experiment, cut, cached_layers):
    plain = run(tmp_path, "plain", {**experiment, "cache_frozen": False})
    cached = run(tmp_path, "cached", experiment)
    assert plain[2]["frozen_cache"] == {
        "used": False, "reason": "turned off (cache_frozen: false)", "cached_layers": 0,
        "seconds_to_cache": 0.0,
    }  # fmt: skip
    info = cached[2]["frozen_cache"]
    assert info["used"] and info["cached_layers"] == cached_layers and cut in info["reason"]
    assert info["seconds_to_cache"] > 0
    assert cached[0].name == "squeezenet_transfer"  # the whole model comes back, not the tail
    assert cached[2]["trainable_params"] == plain[2]["trainable_params"]
    assert_same_training(plain, cached)

    # The whole model is what gets saved, and it reloads like any other.
    path = tmp_path / "cached.keras"
    cached[0].save(path)
    again = keras.saving.load_model(path)
    images = tiny_arrays()["x_test"]
    np.testing.assert_allclose(
        again.predict(images, verbose=0), plain[0].predict(images, verbose=0), atol=1e-5
    )


class Kill(Exception):
    pass


def test_cached_run_killed_mid_way_resumes_on_the_cache(tmp_path, monkeypatch):
    experiment = {**STAGE_2, "epochs": 3, "early_stopping": {"patience": 3}}
    whole = run(tmp_path, "whole", experiment)

    kill_at_epoch(monkeypatch, 2, Kill)
    with pytest.raises(Kill):
        run(tmp_path, "killed", experiment)
    monkeypatch.undo()
    backup = tmp_path / "killed" / "backup"
    assert resume_point(backup)[0] == 2
    assert json.loads((backup / TRAINED_MODEL).read_text())["cached_up_to"] == "fire7_concat"

    resumed = run(tmp_path, "killed", experiment)
    assert resumed[2]["resumed_after_epoch"] == 2 and resumed[2]["frozen_cache"]["used"]
    assert [r["epoch"] for r in resumed[1]] == [1, 2, 3]
    assert_same_training(whole, resumed)


def test_a_backup_of_another_model_is_set_aside(tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "latest.weights.h5").write_text("weights of the whole model, from before the cache")
    said = []
    claim_backup(backup, {"model": "tail", "cached_up_to": "fire7_concat"}, said.append)
    assert not (backup / "latest.weights.h5").exists() and "not resuming the backup" in said[0]
    (aside,) = tmp_path.glob("backup.set-aside-*")  # kept, not deleted
    assert (aside / "latest.weights.h5").read_text().startswith("weights of the whole model")
    assert "it holds another model" in (aside / "SET_ASIDE.txt").read_text()
    claim_backup(backup, {"model": "tail", "cached_up_to": "fire7_concat"}, said.append)
    assert len(said) == 1  # the same model again: kept


def test_augmentation_in_front_keeps_the_uncached_path():
    model = build_model(BEANS_LIKE, 3)
    plan = plan_frozen_cache(model, images=100)
    assert not plan.used and "augment_flip (RandomFlip), random in training" in plan.reason


def test_everything_trainable_leaves_nothing_to_cache():
    plan = plan_frozen_cache(build_model({**CIFAR_LIKE, "trainable": "all"}, 3), images=100)
    assert not plan.used and "conv1 (Conv2D), trainable" in plan.reason


def test_beans_like_training_reports_the_fallback(tmp_path):
    experiment = {**STAGE_1, "augmentation": {"horizontal_flip": True}, "epochs": 1}
    _, _, summary = run(tmp_path, "flip", experiment)
    assert summary["frozen_cache"]["used"] is False
    assert "augment_flip" in summary["frozen_cache"]["reason"]


def test_frozen_vgg_without_augmentation_is_cached_up_to_the_head_dropout():
    model = build_model({**BEANS_LIKE, "augmentation": None, "trainable": "none"}, 3)
    plan = plan_frozen_cache(model, images=10)
    # VGG16's head pools before its dropout, so even the pooling is cached.
    assert plan.used and plan.split.cut_layer == "head_pool" and plan.split.feature_shape == (512,)
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        plan.split.tail.predict(plan.split.features(images, 2), verbose=0),
        model.predict(images, verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_features_written_a_chunk_at_a_time_equal_those_computed_at_once(tmp_path, monkeypatch):
    """Features going to a file are computed a few batches at a time (memory bounded by the chunk, not
    the data set), from the same batches as over the whole array, so they are the same numbers."""
    from transfer_study.training import caching

    plan = plan_frozen_cache(build_model(STAGE_1, 3), images=10)
    images = np.random.default_rng(0).integers(0, 256, (11, 32, 32, 3), dtype=np.uint8)
    at_once = plan.split.features(images, 2)
    row_bytes = int(np.prod(plan.split.feature_shape)) * 4
    monkeypatch.setattr(caching, "FEATURE_CHUNK_BYTES", row_bytes * 5)  # 2 batches of 2 per chunk
    chunks = []
    predict = caching.predict_in_batches
    monkeypatch.setattr(
        caching, "predict_in_batches", lambda m, x, b: chunks.append(len(x)) or predict(m, x, b)
    )
    mapped = plan.split.features(images, 2, into=tmp_path / "train.npy")
    assert chunks == [4, 4, 3] and isinstance(mapped, np.memmap)
    np.testing.assert_array_equal(mapped, at_once)


def test_a_cache_too_large_for_memory_is_not_used(monkeypatch):
    from transfer_study.training import caching

    monkeypatch.setattr(caching, "MAX_CACHE_BYTES", 1000)
    plan = plan_frozen_cache(build_model(STAGE_1, 3), images=100)
    assert not plan.used and "GiB" in plan.reason


def test_mixed_precision_builds_a_float16_body_with_a_float32_output():
    before = keras.config.dtype_policy().name
    with dtype_policy("mixed_bfloat16"):
        model = build_model(STAGE_2, 3)
    assert keras.config.dtype_policy().name == before
    assert model.get_layer("conv10").compute_dtype == "bfloat16"
    assert model.get_layer("conv10").variable_dtype == "float32"
    assert model.get_layer("predictions").compute_dtype == "float32"
    assert keras.backend.standardize_dtype(model.outputs[0].dtype) == "float32"


def test_precision_and_jit_compile_are_checked():
    with pytest.raises(ValueError, match="float32, mixed_float16, mixed_bfloat16"), dtype_policy("float16"):
        pass
    model = build_model(STAGE_1, 3)
    with pytest.raises(ValueError, match="true, false, auto"):
        compile_model(model, {"jit_compile": "yes"})
    compile_model(model, {"jit_compile": False})
    assert model.jit_compile is False


TORCH_CACHED_VS_PLAIN = """
import sys, tempfile
from pathlib import Path
import keras
sys.path.insert(0, sys.argv[1])
from test_caching import STAGE_2, assert_same_training, run
assert keras.backend.backend() == "torch"
tmp = Path(tempfile.mkdtemp())
experiment = {**STAGE_2, "epochs": 2}
plain = run(tmp, "plain", {**experiment, "cache_frozen": False})
cached = run(tmp, "cached", experiment)
assert cached[2]["frozen_cache"]["used"]
assert_same_training(plain, cached)
print("torch cache ok")
"""


def test_cached_training_matches_on_the_torch_backend():
    import os
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
    result = subprocess.run(
        [sys.executable, "-c", TORCH_CACHED_VS_PLAIN, str(Path(__file__).parent)],
        env={**os.environ, "KERAS_BACKEND": "torch"}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "torch cache ok" in result.stdout
