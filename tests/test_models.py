"""The two networks: shapes, trainable plans, preprocessing, pretrained weights, saving."""

from pathlib import Path

import keras
import numpy as np
import pytest

from transfer_study.models.build import apply_trainable_plan, build_model, trainable_units
from transfer_study.models.families.squeezenet import squeezenet_v1_1
from transfer_study.models.layers import VGGPreprocess
from transfer_study.models.weights import save_keras2_notop_h5

REAL_SQUEEZENET = (
    Path(__file__).resolve().parents[2]
    / "shared/weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"
)


def conv_params(kernel: int, channels_in: int, channels_out: int) -> int:
    return kernel * kernel * channels_in * channels_out + channels_out


# The published architectures, written out independently of the code under test.
VGG16_BLOCKS = {
    "block1": [(3, 64), (64, 64)],
    "block2": [(64, 128), (128, 128)],
    "block3": [(128, 256), (256, 256), (256, 256)],
    "block4": [(256, 512), (512, 512), (512, 512)],
    "block5": [(512, 512), (512, 512), (512, 512)],
}
VGG16_PARAMS = {
    block: sum(conv_params(3, cin, cout) for cin, cout in convs) for block, convs in VGG16_BLOCKS.items()
}
# fire module: (input channels, squeeze filters, expand filters per branch)
SQUEEZENET_FIRES = {
    "fire2": (64, 16, 64),
    "fire3": (128, 16, 64),
    "fire4": (128, 32, 128),
    "fire5": (256, 32, 128),
    "fire6": (256, 48, 192),
    "fire7": (384, 48, 192),
    "fire8": (384, 64, 256),
    "fire9": (512, 64, 256),
}
SQUEEZENET_PARAMS = {
    "conv1": conv_params(3, 3, 64),
    **{
        fire: conv_params(1, cin, s) + conv_params(1, s, e) + conv_params(3, s, e)
        for fire, (cin, s, e) in SQUEEZENET_FIRES.items()
    },
}
UNIT_PARAMS = {"vgg16": VGG16_PARAMS, "squeezenet": SQUEEZENET_PARAMS}
NUM_CLASSES = 3


def experiment(model: str, trainable="all", image_size: int = 32, **overrides) -> dict:
    return {
        "model": model,
        "image_size": image_size,
        "trainable": trainable,
        "head": {"activation": "softmax", "dropout": 0.2},
        "augmentation": None,
        **overrides,
    }


def images(count: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def count_params(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def test_trainable_units():
    assert trainable_units("vgg16") == ["block1", "block2", "block3", "block4", "block5"]
    assert trainable_units("squeezenet") == ["conv1", *SQUEEZENET_FIRES]


def test_squeezenet_base_has_the_published_size():
    assert count_params(squeezenet_v1_1((32, 32, 3)).weights) == sum(SQUEEZENET_PARAMS.values())


@pytest.mark.parametrize(
    "model_name, plan, units",
    [
        ("vgg16", "none", []),
        ("vgg16", ["block5"], ["block5"]),
        ("vgg16", ["block4", "block5"], ["block4", "block5"]),
        ("vgg16", "all", list(VGG16_BLOCKS)),
        ("squeezenet", "none", []),
        ("squeezenet", ["fire8", "fire9"], ["fire8", "fire9"]),
        ("squeezenet", "all", list(SQUEEZENET_PARAMS)),
    ],
)
def test_trainable_parameter_count(model_name, plan, units):
    model = build_model(experiment(model_name, plan), NUM_CLASSES)
    head = conv_params(1, 512, NUM_CLASSES)  # Dense(512 -> n) and Conv2D 1x1 count alike
    expected = head + sum(UNIT_PARAMS[model_name][unit] for unit in units)
    assert count_params(model.trainable_weights) == expected
    assert count_params(model.weights) == head + sum(UNIT_PARAMS[model_name].values())


def weights_by_layer(model: keras.Model) -> dict[str, list[np.ndarray]]:
    base_layers = [layer for layer in model.layers if isinstance(layer, keras.Model)][0].layers
    return {
        layer.name: [w.numpy() for w in layer.weights]
        for layer in [*base_layers, *model.layers]
        if layer.weights and not isinstance(layer, keras.Model)
    }


@pytest.mark.parametrize(
    "model_name, plan, head_layer",
    [
        ("vgg16", ["block5"], "predictions"),
        ("squeezenet", ["fire8", "fire9"], "conv10"),
        ("squeezenet", "none", "conv10"),
    ],
)
def test_one_training_step_moves_only_trainable_layers(model_name, plan, head_layer):
    model = build_model(experiment(model_name, plan), NUM_CLASSES)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    before = weights_by_layer(model)
    labels = keras.utils.to_categorical(np.arange(4) % NUM_CLASSES, NUM_CLASSES)
    model.fit(images(4), labels, batch_size=4, epochs=1, verbose=0)
    after = weights_by_layer(model)

    trains = set(plan if isinstance(plan, list) else [])
    for name in before:
        pairs = zip(before[name], after[name], strict=True)
        unchanged = all(np.array_equal(b, a) for b, a in pairs)
        should_train = name == head_layer or name.split("_")[0] in trains
        assert unchanged != should_train, f"{name}: trainable {should_train}, moved {not unchanged}"


@pytest.mark.parametrize(
    "model_name, unit, valid",
    [
        ("vgg16", "block6", "block1, block2, block3, block4, block5"),
        ("squeezenet", "fire10", "conv1, fire2, fire3, fire4, fire5, fire6, fire7, fire8, fire9"),
    ],
)
def test_unknown_unit_lists_the_valid_names(model_name, unit, valid):
    with pytest.raises(ValueError, match=valid):
        build_model(experiment(model_name, [unit]), NUM_CLASSES)


def test_plans_can_be_reapplied_and_bad_plans_are_refused():
    model = build_model(experiment("squeezenet", "all"), NUM_CLASSES)
    apply_trainable_plan(model, "squeezenet", ["conv1"])
    head = conv_params(1, 512, NUM_CLASSES)
    assert count_params(model.trainable_weights) == head + SQUEEZENET_PARAMS["conv1"]
    with pytest.raises(ValueError, match="none"):
        apply_trainable_plan(model, "squeezenet", "some")


@pytest.mark.parametrize("size, final_side", [(32, 1), (96, 5), (224, 13), (16, 1)])
def test_squeezenet_sizes(size, final_side):
    assert squeezenet_v1_1((size, size, 3)).output.shape == (None, final_side, final_side, 512)
    if size == 224:
        return  # the shape above is the point; a forward pass at 224 adds nothing but time
    model = build_model(experiment("squeezenet", image_size=size), 10)
    probabilities = model.predict(images(2, size), verbose=0)
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_relu_head_gives_non_negative_outputs():
    relu_head = {"activation": "relu", "dropout": 0.2}
    model = build_model(experiment("vgg16", head=relu_head), NUM_CLASSES)
    assert (model.predict(images(2), verbose=0) >= 0).all()


def test_vgg_preprocess_is_keras_caffe_preprocessing():
    pixels = images(2).astype("float32")
    expected = keras.applications.vgg16.preprocess_input(pixels.copy())
    actual = keras.ops.convert_to_numpy(VGGPreprocess()(pixels))
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-4)


def test_vgg16_loads_notop_weights_file(tmp_path):
    pretrained = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "vgg16_notop.h5"
    save_keras2_notop_h5(pretrained, path)
    model = build_model(experiment("vgg16", "none"), NUM_CLASSES, str(path))
    loaded = model.get_layer("vgg16").get_layer("block3_conv2").kernel.numpy()
    np.testing.assert_array_equal(loaded, pretrained.get_layer("block3_conv2").kernel.numpy())


def test_squeezenet_loads_the_real_weights():
    if not REAL_SQUEEZENET.exists():
        pytest.skip(f"the real SqueezeNet weights are not at {REAL_SQUEEZENET}")
    model = build_model(experiment("squeezenet", "none"), NUM_CLASSES, str(REAL_SQUEEZENET))
    bias = model.get_layer("squeezenet").get_layer("fire9_expand3x3").bias.numpy()
    assert bias.shape == (256,) and np.abs(bias).sum() > 0  # zeros would mean a fresh layer


@pytest.mark.parametrize(
    "model_name, augmentation, augment_layers",
    [
        ("vgg16", {"horizontal_flip": True, "rotation": 0.2}, {"augment_flip", "augment_rotation"}),
        ("squeezenet", None, set()),
    ],
)
def test_saved_model_reloads_in_safe_mode(tmp_path, model_name, augmentation, augment_layers):
    model = build_model(experiment(model_name, augmentation=augmentation), NUM_CLASSES)
    assert {layer.name for layer in model.layers if "augment" in layer.name} == augment_layers
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    x = images(3)
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    assert count_params(reloaded.trainable_weights) == count_params(model.trainable_weights)


def test_a_model_file_holding_python_code_is_refused(tmp_path):
    """Models load in safe mode: a Lambda layer (arbitrary Python) in a .keras file is not run."""
    from transfer_study.training.evaluation import evaluate_model

    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = tmp_path / "model.keras"
    keras.Model(inputs, outputs).save(path)
    arrays = {"class_names": ["a", "b"], "x_test": np.zeros((2, 4)), "y_test": np.array([0, 1])}
    with pytest.raises(ValueError, match="(?i)lambda"):
        evaluate_model(path, arrays, tmp_path / "history.csv", {"kept_epoch": 1}, batch_size=2)


@pytest.mark.parametrize("model_name", ["vgg16", "squeezenet"])
def test_demo_pretraining_starts_every_convolution_at_unit_spread(model_name):
    from transfer_study.training.pretrain import scale_to_unit_variance

    experiment = {"model": model_name, "image_size": 32, "trainable": "all", "head": {}, "augmentation": None}
    model = build_model(experiment, num_classes=10)
    images = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3)).astype("uint8")
    scale_to_unit_variance(model, model_name, images)

    base = model.get_layer(model_name)
    preprocessing = model.get_layer("vgg16_preprocess" if model_name == "vgg16" else "rescale")
    batch = keras.Model(model.input, preprocessing.output)(images.astype("float32"))
    convolutions = [layer for layer in base.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convolutions) == (13 if model_name == "vgg16" else 25)
    for layer in convolutions:
        output = keras.ops.convert_to_numpy(keras.Model(base.input, layer.output)(batch))
        assert output.std() == pytest.approx(1.0, rel=1e-3), layer.name
