"""A family's model from the registry: input -> augmentation -> preprocessing -> base -> head.

Every model takes raw pixel values (0..255, float32) and does its own preprocessing, so a saved `.keras`
file is usable on images as they come. Nothing here uses a `Lambda` layer: every model loads in Keras's
safe mode, provided this module was imported first (it registers the custom layers of models/layers.py).
The base stays a nested model named after its family ("vgg16", "resnet50v2"); the trainable plans pick
layers inside it by the family's units.

Batch normalisation inside the base follows the experiment's `batchnorm`: `frozen` (the default, as
the Keras transfer-learning guide advises) keeps every BatchNormalization layer of the base in
inference mode with its pretrained statistics, scale and offset, also inside unfrozen units, since
statistics re-estimated on a small data set's batches undo what the base learned; `train` lets the
layers of unfrozen units update their statistics batch by batch. A Keras 3 BatchNormalization layer
with `trainable=False` runs in inference mode, which the saved model, a resumed run and the
frozen-feature cache all keep.
"""

from __future__ import annotations

import keras
from keras import layers

from transfer_study.models import layers as custom_layers  # noqa: F401 - registers them for loading
from transfer_study.models import registry


def build_model(experiment: dict, num_classes: int, weights_path: str | None = None) -> keras.Model:
    """Input -> optional augmentation -> preprocessing -> base -> head, with the trainable plan set.

    `weights_path` is a local notop weights file for the base, or None to start from scratch.
    The model is not compiled.
    """
    family = registry.get(experiment["model"])
    size = experiment["image_size"]
    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="image")
    x = augment(inputs, experiment.get("augmentation"))
    head = {"dropout": family.default_dropout, "activation": "softmax", **experiment["head"]}
    base = family.build_base(tuple(x.shape[1:]), str(weights_path) if weights_path else None)
    x = base(family.preprocessing(family.preprocessing_layer)(x))
    outputs = family.build_head(x, num_classes, head)
    model = keras.Model(inputs, outputs, name=f"{family.name}_transfer")
    apply_trainable_plan(model, family.name, experiment["trainable"])
    apply_batchnorm_policy(model.get_layer(family.name), experiment.get("batchnorm", "frozen"))
    return model


BATCHNORM_POLICIES = ("frozen", "train")


def apply_batchnorm_policy(base: keras.Model, policy: str) -> None:
    """Under `frozen`, every BatchNormalization layer of the base stops training (and so runs in
    inference mode); under `train`, they keep the trainable plan's flags."""
    if policy not in BATCHNORM_POLICIES:
        raise ValueError(f"batchnorm must be one of {', '.join(BATCHNORM_POLICIES)}, got {policy!r}")
    if policy == "frozen":
        for layer in base.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.trainable = False


def augment(x, augmentation: dict | None):
    """Random flip / rotation in front of the network; they are identity at inference."""
    if not augmentation:
        return x
    if augmentation.get("horizontal_flip"):
        x = layers.RandomFlip("horizontal", name="augment_flip")(x)
    if augmentation.get("rotation", 0) > 0:
        x = layers.RandomRotation(augmentation["rotation"], name="augment_rotation")(x)
    return x


def trainable_units(model_name: str) -> list[str]:
    """The unit names a trainable plan may list for `model_name`."""
    return list(registry.get(model_name).units)


def apply_trainable_plan(model: keras.Model, model_name: str, plan) -> None:
    """Set which base layers train: plan "none", "all" or a list of units. The head always trains.

    A nested model set to `trainable=False` freezes all its layers whatever their own flag says, so
    the base itself stays trainable and each of its layers gets its own flag.
    """
    selected = selected_units(model_name, plan)
    base = model.get_layer(model_name)
    base.trainable = True
    units = registry.get(model_name).layer_units(base)
    for layer in base.layers:
        layer.trainable = units[layer.name] in selected


def selected_units(model_name: str, plan) -> set[str]:
    units = trainable_units(model_name)
    if plan == "all":
        return set(units)
    if plan == "none":
        return set()
    if isinstance(plan, str) or not all(isinstance(unit, str) for unit in plan):
        raise ValueError(f"trainable plan must be 'none', 'all' or a list of units, got {plan!r}")
    unknown = sorted(set(plan) - set(units))
    if unknown:
        raise ValueError(
            f"unknown {model_name} units {unknown}; valid names: {', '.join(units)} "
            "(or the plans 'none' / 'all')"
        )
    return set(plan)
