"""Exports of a trained model: each format made by Keras, loaded in its own runtime, checked against
the Keras model; and what happens when a format cannot be made or does not agree."""

import json

import numpy as np
import pytest
import yaml
from conftest import REPO

from transfer_study import config as study_config
from transfer_study.checksums import tree_sha256
from transfer_study.export import (
    CHECK_IMAGES,
    FORMATS,
    ExportError,
    artifact_path,
    check_export,
    export_model,
    failed_check_message,
    without_export,
)

# Augmentation in the model, as in the beans runs: the exports must leave its random ops out.
EXPERIMENT = {
    "model": "squeezenet",
    "image_size": 32,
    "trainable": "all",
    "head": {"activation": "softmax", "dropout": 0.2},
    "augmentation": {"horizontal_flip": True, "rotation": 0.2},
}


def _brightness_images(count, seed):
    """Images whose class is their brightness quartile: a few epochs learn it, so the model's answers
    differ from image to image (a random head answers every image alike, and agreement means nothing)."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0, 1, (count, 1, 1, 3))
    return (rng.integers(0, 256, (count, 32, 32, 3)) * scale).astype("float32")


def _brightness_classes(images):
    brightness = images.mean(axis=(1, 2, 3))
    return np.digitize(brightness, np.quantile(brightness, [0.25, 0.5, 0.75]))


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    """A briefly trained, saved and reloaded model, as an export job gets it."""
    import keras

    from transfer_study.models.build import build_model
    from transfer_study.training.evaluation import load_trained_model

    keras.utils.set_random_seed(3)
    model = build_model(EXPERIMENT, 4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    x = _brightness_images(128, seed=1)
    model.fit(x, _brightness_classes(x), epochs=8, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("run") / "model.keras"
    model.save(path)
    return load_trained_model(path)


@pytest.fixture(scope="module")
def images():
    return _brightness_images(CHECK_IMAGES, seed=0)


def test_the_served_model_has_no_random_layers_and_answers_as_the_trained_one(trained_model, images):
    from transfer_study.models.serving import AUGMENTATION_LAYERS, inference_model

    served = inference_model(trained_model)
    assert any(isinstance(layer, AUGMENTATION_LAYERS) for layer in trained_model.layers)
    assert not any(isinstance(layer, AUGMENTATION_LAYERS) for layer in served.layers)
    # The same weights, not copies: nothing to keep in step.
    assert served.get_layer("squeezenet") is trained_model.get_layer("squeezenet")
    np.testing.assert_array_equal(served.predict(images, verbose=0), trained_model.predict(images, verbose=0))


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_format_loads_in_its_runtime_and_agrees_with_the_keras_model(
    trained_model, images, tmp_path, name
):
    folder = tmp_path / "export" / name
    export_model(trained_model, name, folder)
    path = artifact_path(folder, name)
    assert path.exists() and not list(folder.parent.glob("partial.*"))
    check = check_export(trained_model, name, folder, images, "float32")
    assert check["passed"], check
    assert check["images"] == check["top1_equal"] == CHECK_IMAGES
    assert 0 <= check["max_probability_difference"] <= 1e-4
    assert check["sha256"] == tree_sha256(path) and check["bytes"] > 100_000
    assert check["runtime"]["name"] == FORMATS[name].runtime and check["runtime"]["version"]
    assert check["artifact"] == f"{name}/{FORMATS[name].artifact}".rstrip("/")
    # Snakemake's marker in a directory output is no part of the export's hash.
    (folder / ".snakemake_timestamp").write_text("")
    assert tree_sha256(path) == check["sha256"]
    # Exported again, the folder is replaced, not added to.
    (folder / "stale.bin").write_bytes(b"from an earlier export")
    export_model(trained_model, name, folder)
    assert not (folder / "stale.bin").exists() and artifact_path(folder, name).exists()


def test_an_export_that_disagrees_with_the_model_fails_its_check_with_the_numbers(
    trained_model, images, tmp_path
):
    import keras

    from transfer_study.models.build import build_model

    export_model(trained_model, "onnx", tmp_path / "onnx")
    keras.utils.set_random_seed(99)
    other = build_model(EXPERIMENT, 4)  # the same shape, other weights
    check = check_export(other, "onnx", tmp_path / "onnx", images, "float32")
    assert not check["passed"] and check["max_probability_difference"] > 1e-4
    message = failed_check_message(check)
    assert f"first {CHECK_IMAGES} test images" in message and "allowed 0.0001 for float32" in message


def test_a_graph_onnx_cannot_run_fails_naming_the_operation_and_the_layer(tmp_path):
    """tf2onnx writes a file even where it cannot convert an operation; the job fails, naming both."""
    import keras

    class Sheared(keras.layers.Layer):
        def call(self, x):
            transform = keras.ops.tile(
                keras.ops.convert_to_tensor([[1.0, 0.2, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]]),
                (keras.ops.shape(x)[0], 1),
            )
            return keras.ops.image.affine_transform(x, transform)

    inputs = keras.Input((16, 16, 3), name="image")
    x = Sheared(name="shear_it")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    images = np.ones((4, 16, 16, 3), "float32")
    messages = export_model(model, "onnx", tmp_path / "onnx")
    with pytest.raises(ExportError) as raised:
        check_export(model, "onnx", tmp_path / "onnx", images, "float32", messages)
    text = str(raised.value)
    assert text.startswith("onnx: the export was written but onnxruntime cannot run it")
    assert "ImageProjectiveTransformV3" in text and "shear_it" in text


def test_a_model_that_keras_cannot_export_fails_with_the_exporters_reason(tmp_path):
    import keras

    model = keras.Sequential([keras.layers.Dense(2)])  # never built: nothing to trace
    with pytest.raises(ExportError) as raised:
        export_model(model, "litert", tmp_path / "litert")
    assert str(raised.value).startswith("litert: Keras's exporter (model.export(format='litert')) failed")
    assert not (tmp_path / "litert").exists() and not list(tmp_path.glob("partial.*"))


def read_yaml(path):
    return yaml.safe_load((REPO / path).read_text())


def test_the_schema_and_the_exporter_know_the_same_formats():
    schema = read_yaml("config/schema.yaml")
    assert schema["$defs"]["export_formats"]["items"]["enum"] == list(FORMATS)


def demo_config():
    config = read_yaml("config/demo.yaml")
    errors = study_config.schema_errors(config, read_yaml("config/schema.yaml"))
    assert not errors
    return config


def test_export_plans_every_seed_for_a_list_and_the_named_ones_for_a_dict():
    seeds = [0, 1, 2]
    assert study_config.export_plan({"export": ["onnx"]}, seeds) == (["onnx"], [0, 1, 2])
    assert study_config.export_plan({"export": []}, seeds) == ([], [])
    assert study_config.export_plan({}, seeds) == ([], [])
    plan = {"export": {"formats": ["litert", "onnx"], "seeds": [2, 0]}}
    assert study_config.export_plan(plan, seeds) == (["litert", "onnx"], [0, 2])


def test_exporting_is_no_part_of_what_training_depends_on():
    config = demo_config()
    before = study_config.training_spec(config, "cifar10-stage2")
    config["experiments"]["cifar10-stage2"]["export"] = ["onnx", "litert"]
    assert study_config.training_spec(config, "cifar10-stage2") == before


def test_an_export_of_an_untrained_seed_or_an_unknown_format_is_a_config_error():
    config = demo_config()
    config["experiments"]["cifar10-stage2"]["export"] = {"formats": ["onnx"], "seeds": [0, 7]}
    expected = r"experiments\.cifar10-stage2\.export\.seeds: 7 is not"
    with pytest.raises(study_config.ConfigError, match=expected):
        study_config.check_config(config)
    raw = read_yaml("config/demo.yaml")
    raw["experiments"]["cifar10-stage2"]["export"] = ["onnx", "tflite"]
    errors = study_config.schema_errors(raw, read_yaml("config/schema.yaml"))
    assert any("cifar10-stage2" in error and "export" in error for error in errors), errors


def test_a_failed_export_says_where_the_config_asks_for_it():
    assert without_export("onnx", "beans-3c") == (
        "to go on without this export, remove onnx from the `export` of experiment beans-3c (or of the "
        "grid that made it) in the config"
    )


def test_the_export_check_file_names_its_artifact_inside_the_export_folder(trained_model, images, tmp_path):
    folder = tmp_path / "seed0/export/litert"
    export_model(trained_model, "litert", folder)
    check = check_export(trained_model, "litert", folder, images[:5], "float32")
    assert (tmp_path / "seed0/export" / check["artifact"]).is_file()
    assert json.loads(json.dumps(check)) == check  # plain JSON, as the job writes it
