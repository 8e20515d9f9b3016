"""Keras 2 weight files: the real SqueezeNet download, hand-written broken files, round trips."""

from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from transfer_study.models.families.squeezenet import load_keras2_h5 as load_squeezenet_keras2_h5
from transfer_study.models.families.squeezenet import save_weights as save_squeezenet_keras2_h5
from transfer_study.models.families.squeezenet import squeezenet_v1_1
from transfer_study.models.weights import save_keras2_notop_h5

REAL_SQUEEZENET = (
    Path(__file__).resolve().parents[2]
    / "shared/weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"
)


@pytest.fixture
def real_squeezenet_path() -> Path:
    if not REAL_SQUEEZENET.exists():
        pytest.skip(f"the real SqueezeNet weights are not at {REAL_SQUEEZENET}")
    return REAL_SQUEEZENET


@pytest.fixture(scope="module")
def base() -> keras.Model:
    return squeezenet_v1_1((32, 32, 3))


def file_datasets(path: Path) -> dict[tuple[str, str], np.ndarray]:
    """Every array in the file keyed by (Keras 3 layer name, variable name), found by walking it.

    Walks the HDF5 tree instead of reading `weight_names`, so it does not share the loader's logic:
    'fire2/squeeze1x1/fire2/squeeze1x1_3/kernel:0' -> ('fire2_squeeze1x1', 'kernel').
    """
    arrays = {}

    def collect(name, item):
        if isinstance(item, h5py.Dataset):
            parts = name.split("/")
            layer = parts[0] if parts[0] == "conv1" else f"{parts[0]}_{parts[1]}"
            arrays[(layer, parts[-1].removesuffix(":0"))] = item[()]

    with h5py.File(path, "r") as h5:
        h5.visititems(collect)
    return arrays


def test_real_file_loads_all_50_arrays_unchanged(base, real_squeezenet_path):
    assert load_squeezenet_keras2_h5(base, real_squeezenet_path) == 50
    expected = file_datasets(real_squeezenet_path)
    assert len(expected) == 50
    for (layer, variable), array in expected.items():
        loaded = {v.name: v for v in base.get_layer(layer).weights}[variable]
        np.testing.assert_array_equal(loaded.numpy(), array)


def conv2d_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Stride-1 'same' convolution (odd kernel, HWIO) as a sum of shifted matrix products."""
    kh, kw = kernel.shape[:2]
    height, width = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = np.zeros(x.shape[:3] + kernel.shape[3:])
    for i in range(kh):
        for j in range(kw):
            out += padded[:, i : i + height, j : j + width] @ kernel[i, j]
    return out + bias


def test_fire2_with_real_weights_matches_numpy(base, real_squeezenet_path):
    load_squeezenet_keras2_h5(base, real_squeezenet_path)
    arrays = file_datasets(real_squeezenet_path)

    def relu_conv(x, layer):
        return np.maximum(conv2d_same(x, arrays[(layer, "kernel")], arrays[(layer, "bias")]), 0)

    x = np.random.default_rng(0).uniform(0, 2, size=(2, 7, 7, 64))
    squeezed = relu_conv(x, "fire2_squeeze1x1")
    expected = np.concatenate(
        [relu_conv(squeezed, "fire2_expand1x1"), relu_conv(squeezed, "fire2_expand3x3")], axis=-1
    )

    fire2_input = keras.Input((7, 7, 64))
    s = base.get_layer("fire2_squeeze1x1")(fire2_input)
    e1, e3 = base.get_layer("fire2_expand1x1")(s), base.get_layer("fire2_expand3x3")(s)
    fire2 = keras.Model(fire2_input, base.get_layer("fire2_concat")([e1, e3]))
    actual = fire2.predict(x.astype("float32"), verbose=0)

    assert actual.shape == (2, 7, 7, 128)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


def model_arrays(model: keras.Model) -> dict[str, dict[str, np.ndarray]]:
    """{Keras 2 layer name: {variable name: array}} for the layers that have weights."""
    return {
        layer.name.replace("_", "/", 1) if layer.name.startswith("fire") else layer.name: {
            v.name: v.numpy() for v in layer.weights
        }
        for layer in model.layers
        if layer.weights
    }


def write_keras2_file(path: Path, layers: dict[str, dict[str, np.ndarray]]) -> Path:
    """A Keras 2 weights file written by hand, with a scope suffix the loader cannot guess."""
    with h5py.File(path, "w") as h5:
        h5.attrs["layer_names"] = [name.encode() for name in [*layers, "pool1"]]
        h5.create_group("pool1").attrs["weight_names"] = np.zeros(0)
        for name, variables in layers.items():
            group = h5.create_group(name)
            weight_names = [f"{name}_7/{variable}:0" for variable in variables]
            group.attrs["weight_names"] = [w.encode() for w in weight_names]
            for weight_name, array in zip(weight_names, variables.values(), strict=True):
                group[weight_name] = array
    return path


def test_hand_written_file_loads(base, tmp_path):
    layers = model_arrays(squeezenet_v1_1((32, 32, 3)))
    assert load_squeezenet_keras2_h5(base, write_keras2_file(tmp_path / "w.h5", layers)) == 50
    np.testing.assert_array_equal(
        base.get_layer("fire9_expand3x3").kernel.numpy(),
        layers["fire9/expand3x3"]["kernel"],
    )


def test_layer_missing_in_file_is_named(base, tmp_path):
    layers = model_arrays(base)
    del layers["fire5/expand3x3"]
    with pytest.raises(ValueError, match="fire5_expand3x3") as raised:
        load_squeezenet_keras2_h5(base, write_keras2_file(tmp_path / "w.h5", layers))
    assert str(tmp_path / "w.h5") in str(raised.value)
    assert str(raised.value).endswith(
        "check the source that the experiment's weights (experiments.*.weights) names"
    )


def test_file_layer_missing_in_model_is_named(base, tmp_path):
    layers = model_arrays(base)
    layers["conv10"] = {"kernel": np.zeros((1, 1, 512, 10)), "bias": np.zeros(10)}
    with pytest.raises(ValueError, match="conv10"):
        load_squeezenet_keras2_h5(base, write_keras2_file(tmp_path / "w.h5", layers))


def test_shape_mismatch_names_layer_and_both_shapes_and_assigns_nothing(base, tmp_path):
    layers = model_arrays(base)
    before = layers["conv1"]["kernel"]
    layers["conv1"]["kernel"] = before + 1
    layers["fire3/squeeze1x1"]["kernel"] = np.zeros((1, 1, 64, 16))
    with pytest.raises(ValueError, match=r"fire3_squeeze1x1.*\(1, 1, 128, 16\).*\(1, 1, 64, 16\)") as raised:
        load_squeezenet_keras2_h5(base, write_keras2_file(tmp_path / "w.h5", layers))
    assert str(raised.value).startswith(f"{tmp_path / 'w.h5'}: layer 'fire3_squeeze1x1'")
    assert "the file holds another model's weights" in str(raised.value)
    np.testing.assert_array_equal(base.get_layer("conv1").kernel.numpy(), before)


def test_squeezenet_saver_round_trips_through_loader(tmp_path):
    saved, loaded = squeezenet_v1_1((32, 32, 3)), squeezenet_v1_1((32, 32, 3))
    path = tmp_path / "squeezenet_notop.h5"
    save_squeezenet_keras2_h5(saved, path)
    assert load_squeezenet_keras2_h5(loaded, path) == 50
    for a, b in zip(saved.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with h5py.File(path, "r") as h5:
        assert b"fire2/squeeze1x1" in list(h5.attrs["layer_names"])
        assert list(h5["fire2/squeeze1x1"].attrs["weight_names"]) == [
            b"fire2/squeeze1x1/kernel:0",
            b"fire2/squeeze1x1/bias:0",
        ]


def test_vgg16_notop_saver_is_read_by_keras_applications(tmp_path):
    saved = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "vgg16_notop.h5"
    save_keras2_notop_h5(saved, path)
    loaded = keras.applications.VGG16(include_top=False, weights=str(path), input_shape=(32, 32, 3))
    assert len(loaded.weights) == 26
    for a, b in zip(saved.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("name", ["vgg16.weights.h5", "vgg16.bin"])
def test_vgg16_notop_saver_refuses_names_keras_would_not_read_as_legacy(tmp_path, name):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"\.h5"):
        save_keras2_notop_h5(model, tmp_path / name)
