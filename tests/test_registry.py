"""The model registry: every family builds, trains, saves and loads; units cover its layers; a new family
is one module and its registration; unknown names are refused with the registered ones."""

import copy
import subprocess
import sys

import keras
import numpy as np
import pytest
import yaml
from conftest import REPO
from test_models import experiment

from transfer_study import config as study_config
from transfer_study.models import registry
from transfer_study.models.build import build_model
from transfer_study.models.heads import dense_head
from transfer_study.models.registry import ModelFamily, WeightsSource

NUM_CLASSES = 3
KERAS_APPLICATIONS = ["resnet50v2", "efficientnetv2b0", "mobilenetv3small", "convnexttiny"]


def images(count: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3)).astype("float32")


def labels(count: int) -> np.ndarray:
    return keras.utils.to_categorical(np.arange(count) % NUM_CLASSES, NUM_CLASSES)


def weights_by_layer(layers) -> dict[str, list[np.ndarray]]:
    return {layer.name: [np.array(w.numpy()) for w in layer.weights] for layer in layers if layer.weights}


def trained_one_step(model: keras.Model, size: int):
    """Per base layer and per head layer: the weights before and after one training step."""
    base = model.get_layer(model.name.removesuffix("_transfer"))
    head = [layer for layer in model.layers if layer.trainable_weights and layer is not base]
    before = weights_by_layer([*base.layers, *head])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    model.fit(images(2, size), labels(2), batch_size=2, epochs=1, verbose=0)
    return before, weights_by_layer([*base.layers, *head])


@pytest.fixture(scope="module", params=registry.names())
def family_run(request, tmp_path_factory):
    """Each family at its smallest input with random weights, its last unit trainable, after one step
    of training; built, trained and saved once for the tests below."""
    family = registry.get(request.param)
    size = family.min_image_size
    plan = [list(family.units)[-1]]
    model = build_model(experiment(family.name, plan, size), NUM_CLASSES)
    before, after = trained_one_step(model, size)
    path = tmp_path_factory.mktemp(family.name) / "model.keras"
    model.save(path)
    return family, model, plan, before, after, path


def test_registered_names_and_lookup():
    assert registry.names() == sorted(registry.names())
    assert {"vgg16", "squeezenet", *KERAS_APPLICATIONS} <= set(registry.names())
    for name in registry.names():
        assert registry.get(name).name == name
    with pytest.raises(
        registry.UnknownModel,
        match="unknown model 'vgg19'; registered models: " + ", ".join(registry.names()),
    ):
        registry.get("vgg19")


def test_every_base_layer_belongs_to_exactly_one_unit(family_run):
    family, model, *_ = family_run
    base = model.get_layer(family.name)
    assigned = family.layer_units(base)
    assert list(assigned) == [layer.name for layer in base.layers]
    for layer in base.layers:
        matching = family.matching_units(layer.name)
        assert len(matching) <= 1, f"{layer.name} matches {matching}"
        if layer.weights:
            assert matching == [assigned[layer.name]], f"{layer.name} has weights but matches {matching}"
    with_weights = {assigned[layer.name] for layer in base.layers if layer.weights}
    assert with_weights == set(family.units), "a unit with no weights to train"


def test_one_step_moves_exactly_the_planned_unit_and_the_head(family_run):
    family, model, plan, before, after = family_run[:5]
    base = model.get_layer(family.name)
    assigned = family.layer_units(base)
    base_names = {layer.name for layer in base.layers}
    moved_units = set()
    for name, arrays in before.items():
        moved = any(not np.array_equal(b, a) for b, a in zip(arrays, after[name], strict=True))
        if name not in base_names:
            assert moved, f"head layer {name} did not train"
        elif assigned[name] in plan:
            moved_units.update([assigned[name]] if moved else [])
        else:
            assert not moved, f"{name} of frozen unit {assigned[name]} moved"
    assert moved_units == set(plan)


def test_saved_model_reloads_in_safe_mode_with_the_same_predictions(family_run):
    family, model, *_, path = family_run
    reloaded = keras.saving.load_model(path, safe_mode=True)
    x = images(2, family.min_image_size, seed=1)
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )
    assert reloaded.get_layer(family.name).name == family.name


@pytest.mark.parametrize("name", KERAS_APPLICATIONS)
def test_weights_written_in_the_published_layout_load_into_the_base(tmp_path, name):
    """The demo's stand-ins and the real downloads take the same path: keras.applications(weights=file)."""
    family = registry.get(name)
    shape = (family.min_image_size, family.min_image_size, 3)
    written = family.build_base(shape, None)
    rng = np.random.default_rng(0)
    for variable in written.weights:  # values no initializer gives, variances kept positive
        variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype(variable.dtype))
    path = tmp_path / family.default_weights.file_name
    family.save_weights(written, path)
    loaded = family.build_base(shape, str(path))
    assert loaded.name == name
    for saved, read in zip(written.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(read.numpy(), saved.numpy(), err_msg=saved.path)


@pytest.mark.parametrize("name", registry.names())
def test_default_weights_sources_are_valid_config_sources(name):
    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    source = registry.get(name).default_weights.as_source()
    config = {"seeds": [0], "sources": {"w": source}, "datasets": {}, "experiments": {}}
    assert [e for e in study_config.schema_errors(config, schema) if e.startswith("sources.")] == []
    ((algorithm, digest),) = source["checksums"].items()
    assert len(digest) == {"md5": 32, "sha256": 64}[algorithm]


def test_schema_leaves_model_names_to_the_registry():
    """The schema takes any string; the config check knows the names (one list, in the registry)."""
    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    experiment_model = schema["$defs"]["experiment"]["properties"]["model"]
    pretrain_model = schema["$defs"]["source"]["properties"]["pretrain"]["properties"]["model"]
    for entry in (experiment_model, pretrain_model):
        assert entry["type"] == "string" and "enum" not in entry


def demo_config() -> dict:
    """config/demo.yaml as Snakemake's validation leaves it (defaults filled in)."""
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    validate(config, str(REPO / "config/schema.yaml"), set_default=True)
    return config


def test_unknown_models_fail_the_config_check_with_the_registered_names():
    config = demo_config()
    config["experiments"]["beans-2"]["model"] = "resnet18"
    config["sources"]["vgg16_imagenet"]["pretrain"]["model"] = "vgg11"
    with pytest.raises(study_config.ConfigError) as raised:
        study_config.check_config(config)
    listed = ", ".join(registry.names())
    assert f"experiments.beans-2.model: unknown model 'resnet18'; registered models: {listed}" in str(
        raised.value
    )
    assert (
        f"sources.vgg16_imagenet.pretrain.model: unknown model 'vgg11'; registered models: {listed}"
        in str(raised.value)
    )


@pytest.mark.parametrize("name", KERAS_APPLICATIONS)
def test_config_check_reads_units_and_minimum_size_from_the_registry(name):
    family = registry.get(name)
    config = demo_config()
    beans = config["experiments"]["beans-1-softmax"]
    beans.update(model=name, trainable=list(family.units)[-2:])
    study_config.check_config(config)
    broken = copy.deepcopy(config)
    broken["experiments"]["beans-1-softmax"].update(
        trainable=["block99"], image_size=family.min_image_size - 1
    )
    with pytest.raises(study_config.ConfigError) as raised:
        study_config.check_config(broken)
    assert f"unknown {name} unit(s) block99; valid: none, all, or a list of {', '.join(family.units)}" in str(
        raised.value
    )
    assert f"{name} takes images of at least {family.min_image_size} x {family.min_image_size} px" in str(
        raised.value
    )


@pytest.mark.parametrize("name", [*registry.names(), "tiny"])
def test_the_sizes_a_family_declares_for_memory_are_those_of_its_built_base(name):
    """models/memory.py sizes a job's mem_mb from these without building the model; a family whose
    numbers are off (or were not measured) would ask for too little memory or too much."""
    from transfer_study.models.memory import base_size

    family = TINY if name == "tiny" else registry.get(name)
    measured = base_size(family.build_base((224, 224, 3), None))
    assert family.parameters == measured["parameters"]
    for key in ("activations_per_pixel", "largest_activation_per_pixel"):
        assert getattr(family, key) == pytest.approx(measured[key], rel=0.02), key


def test_planning_imports_no_keras():
    code = (
        "import sys\n"
        "import transfer_study.config, transfer_study.models.registry as registry\n"
        "import transfer_study.models.memory\n"
        "assert registry.names(), 'no family registered'\n"
        "loaded = [m for m in ('keras', 'tensorflow', 'torch', 'jax') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(REPO / "src")})


# --- a new family: one module's worth of code and its registration ----------------------------------


def tiny_base(input_shape, weights_path):
    inputs = keras.Input(shape=input_shape, name="tiny_input")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="low_conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="low_pool")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="high_conv")(x)
    base = keras.Model(inputs, x, name="tiny")
    if weights_path:
        base.load_weights(weights_path)
    return base


TINY = ModelFamily(
    name="tiny",
    display_name="Tiny",
    build_base=tiny_base,
    preprocessing=lambda name: keras.layers.Rescaling(1 / 255, name=name),
    preprocessing_layer="tiny_preprocess",
    units={"low": "low_", "high": "high_"},
    build_head=dense_head,
    save_weights=lambda base, path: base.save_weights(path),
    default_weights=WeightsSource(
        url="https://example.org/tiny.weights.h5", checksums={"md5": "0" * 32}, file_name="tiny.weights.h5"
    ),
    # models.memory.base_size(tiny_base((224, 224, 3), None)), rounded
    parameters=408,
    activations_per_pixel=9.8,
    largest_activation_per_pixel=3.9,
    min_image_size=8,
)


def test_a_registered_family_is_checked_built_and_trained(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "FAMILIES", registry.FAMILIES.copy())  # the registration is undone after
    registry.register(TINY)
    assert "tiny" in registry.names()
    config = demo_config()
    config["experiments"]["beans-1-softmax"].update(model="tiny", trainable=["high"])
    study_config.check_config(config)
    config["experiments"]["beans-1-softmax"].update(trainable=["middle"])
    with pytest.raises(
        study_config.ConfigError,
        match="unknown tiny unit.s. middle; valid: none, all, or a list of low, high",
    ):
        study_config.check_config(config)

    model = build_model(experiment("tiny", ["high"], 16), NUM_CLASSES)
    assert model.get_layer("tiny").get_layer("low_conv").trainable is False
    before, after = trained_one_step(model, 16)
    assert all(np.array_equal(b, a) for b, a in zip(before["low_conv"], after["low_conv"], strict=True))
    assert not np.array_equal(before["high_conv"][0], after["high_conv"][0])
    path = tmp_path / "tiny.weights.h5"
    TINY.save_weights(model.get_layer("tiny"), path)
    reloaded = build_model(experiment("tiny", "none", 16), NUM_CLASSES, str(path))
    np.testing.assert_array_equal(
        reloaded.get_layer("tiny").get_layer("high_conv").kernel.numpy(), after["high_conv"][0]
    )


def test_registering_a_taken_name_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        registry.register(copy.copy(registry.get("vgg16")))


def test_frozen_front_cache_splits_exactly_or_says_why_not(family_run):
    """training/caching.py traces the model's layers: each family either splits into a prefix and a
    tail that together compute the model, or falls back with a reason."""
    from transfer_study.training.caching import plan_frozen_cache

    family, model, *_ = family_run
    plan = plan_frozen_cache(model, images=4)
    assert plan.reason
    if plan.split is not None:
        x = images(2, family.min_image_size, seed=2)
        features = plan.split.features(x, batch_size=2)
        np.testing.assert_allclose(
            plan.split.tail.predict(features, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
        )


@pytest.mark.parametrize("policy", ["frozen", "train"])
def test_batch_norm_statistics_are_kept_or_learned_by_the_policy(tmp_path, policy):
    """Fine-tuning every layer of ResNet50V2: `frozen` (the default) keeps each BatchNormalization
    layer's moving mean and variance as they were, also in the saved model; `train` updates them."""
    size = registry.get("resnet50v2").min_image_size
    settings = experiment("resnet50v2", "all", size, **({"batchnorm": policy} if policy == "train" else {}))
    model = build_model(settings, NUM_CLASSES)
    norms = [layer for layer in model.get_layer("resnet50v2").layers
             if isinstance(layer, keras.layers.BatchNormalization)]  # fmt: skip
    assert len(norms) > 30

    def statistics():
        return [
            np.concatenate([np.array(layer.moving_mean), np.array(layer.moving_variance)]) for layer in norms
        ]

    before = statistics()
    trained_one_step(model, size)
    changed = [not np.array_equal(b, a) for b, a in zip(before, statistics(), strict=True)]
    assert all(changed) if policy == "train" else not any(changed)
    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras").get_layer("resnet50v2")
    frozen = [
        not layer.trainable for layer in reloaded.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert all(frozen) if policy == "frozen" else not any(frozen)


def test_an_unknown_batch_norm_policy_is_refused_by_the_schema():
    config = demo_config()
    config["experiments"]["cifar10-stage3"]["batchnorm"] = "learn"
    problems = study_config.schema_errors(config, yaml.safe_load((REPO / "config/schema.yaml").read_text()))
    assert any(p.startswith("experiments.cifar10-stage3.batchnorm: 'learn' is not one of") for p in problems)
