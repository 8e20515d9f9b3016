"""The two networks of the studies: VGG16 (beans) and SqueezeNet v1.1 (CIFAR-10), each a pretrained
or randomly initialised base with a new classification head.

Both models take raw pixel values (0..255, float32) and do their own preprocessing, so a saved
`.keras` file is usable on images as they come. Nothing here uses a `Lambda` layer: every model
loads in Keras's safe mode, provided this module was imported first (it registers `VGGPreprocess`).
The base stays a nested model named after the architecture ("vgg16", "squeezenet"); the trainable
plans pick layers inside it by name.
"""

from __future__ import annotations

import random

import keras
from keras import layers, ops

from transfer_study.models.weights import load_squeezenet_keras2_h5

VALID_MODELS = ("vgg16", "squeezenet")

# What keras.applications.vgg16.preprocess_input subtracts ("caffe" mode), in BGR order.
IMAGENET_BGR_MEANS = (103.939, 116.779, 123.68)

# SqueezeNet v1.1: fire module number -> (squeeze filters, expand filters per branch).
FIRE_MODULES = {
    2: (16, 64),
    3: (16, 64),
    4: (32, 128),
    5: (32, 128),
    6: (48, 192),
    7: (48, 192),
    8: (64, 256),
    9: (64, 256),
}
# v1.1 pools after conv1 and after fire3 and fire5 (v1.0 pooled later, after fire4 and fire8).
POOL_AFTER = {"conv1": "pool1", "fire3": "pool3", "fire5": "pool5"}

# The units a trainable plan may name; a unit is every base layer whose name is, or starts with,
# the unit followed by '_' (vgg16 layers are 'block5_conv1', squeezenet ones 'fire8_squeeze1x1').
UNITS = {
    "vgg16": [f"block{i}" for i in range(1, 6)],
    "squeezenet": ["conv1"] + [f"fire{i}" for i in FIRE_MODULES],
}
DEFAULT_DROPOUT = {"vgg16": 0.2, "squeezenet": 0.5}


@keras.saving.register_keras_serializable(package="transfer_study")
class VGGPreprocess(layers.Layer):
    """RGB (0..255) -> BGR minus the ImageNet means: VGG16's "caffe" preprocessing as a layer.

    A layer rather than a `Lambda` so that saved models reload in safe mode.
    """

    def call(self, inputs):
        bgr = ops.flip(ops.cast(inputs, self.compute_dtype), axis=-1)
        return bgr - ops.convert_to_tensor(IMAGENET_BGR_MEANS, dtype=self.compute_dtype)


def build_model(experiment: dict, num_classes: int, weights_path: str | None = None) -> keras.Model:
    """Input -> optional augmentation -> preprocessing -> base -> head, with the trainable plan set.

    `weights_path` is a local notop weights file for the base, or None to start from scratch.
    The model is not compiled.
    """
    name = experiment["model"]
    if name not in VALID_MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(VALID_MODELS)}")
    size = experiment["image_size"]
    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="image")
    x = augment(inputs, experiment.get("augmentation"))
    head = {"dropout": DEFAULT_DROPOUT[name], "activation": "softmax", **experiment["head"]}
    add_base_and_head = vgg16_on if name == "vgg16" else squeezenet_on
    outputs = add_base_and_head(x, num_classes, head, weights_path)
    model = keras.Model(inputs, outputs, name=f"{name}_transfer")
    apply_trainable_plan(model, name, experiment["trainable"])
    return model


def augment(x, augmentation: dict | None):
    """Random flip / rotation in front of the network; they are identity at inference."""
    if not augmentation:
        return x
    if augmentation.get("horizontal_flip"):
        x = layers.RandomFlip("horizontal", name="augment_flip")(x)
    if augmentation.get("rotation", 0) > 0:
        x = layers.RandomRotation(augmentation["rotation"], name="augment_rotation")(x)
    return x


def vgg16_on(x, num_classes: int, head: dict, weights_path: str | None):
    """VGG16 base and the head of the TensorFlow transfer-learning tutorial."""
    base = keras.applications.VGG16(
        include_top=False,
        weights=str(weights_path) if weights_path else None,
        input_shape=tuple(x.shape[1:]),
    )
    x = base(VGGPreprocess(name="vgg16_preprocess")(x))
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = head_dropout(head["dropout"])(x)
    # float32 whatever the dtype policy: a softmax in float16 loses the small probabilities.
    return layers.Dense(num_classes, activation=head["activation"], name="predictions", dtype="float32")(x)


def squeezenet_on(x, num_classes: int, head: dict, weights_path: str | None):
    """SqueezeNet v1.1 base and its usual head: a 1x1 convolution per class, averaged over space."""
    base = squeezenet_v1_1(tuple(x.shape[1:]))
    if weights_path:
        load_squeezenet_keras2_h5(base, weights_path)
    x = base(layers.Rescaling(1 / 255, name="rescale")(x))
    x = head_dropout(head["dropout"])(x)
    x = layers.Conv2D(num_classes, 1, name="conv10")(x)
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    # float32 whatever the dtype policy: a softmax in float16 loses the small probabilities.
    return layers.Activation(head["activation"], name="predictions", dtype="float32")(x)


def head_dropout(rate: float) -> layers.Dropout:
    """Dropout with an explicit seed, drawn the way Keras draws one for `seed=None`.

    TensorFlow and JAX behave exactly as with `seed=None`. On PyTorch an unseeded Dropout falls back to
    torch's global generator; a seeded one draws from its seed generator, whose state the training loop
    sets from (seed, epoch), so torch runs also resume and cache exactly.
    """
    return layers.Dropout(rate, seed=random.randint(1, int(1e9)), name="head_dropout")


def squeezenet_v1_1(input_shape, name: str = "squeezenet") -> keras.Model:
    """SqueezeNet v1.1 without classifier; layer names as in the Keras 2 file, '/' read as '_'."""
    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    pool_padding = squeezenet_pool_padding(min(input_shape[:2]))
    x = layers.Conv2D(64, 3, strides=2, activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(3, strides=2, padding=pool_padding, name="pool1")(x)
    for number, (squeeze, expand) in FIRE_MODULES.items():
        x = fire_module(x, f"fire{number}", squeeze, expand)
        if f"fire{number}" in POOL_AFTER:
            pool = POOL_AFTER[f"fire{number}"]
            x = layers.MaxPooling2D(3, strides=2, padding=pool_padding, name=pool)(x)
    return keras.Model(inputs, x, name=name)


def fire_module(x, prefix: str, squeeze: int, expand: int):
    """Squeeze to a few channels with 1x1, expand with parallel 1x1 and 3x3, concatenate."""
    x = relu_conv(squeeze, 1, f"{prefix}_squeeze1x1")(x)
    left = relu_conv(expand, 1, f"{prefix}_expand1x1")(x)
    right = relu_conv(expand, 3, f"{prefix}_expand3x3")(x)
    return layers.Concatenate(axis=-1, name=f"{prefix}_concat")([left, right])


def relu_conv(filters: int, size: int, name: str) -> layers.Conv2D:
    # 'same' keeps the 3x3 expand branch as large as the 1x1 one; 1x1 kernels need no padding.
    return layers.Conv2D(filters, size, padding="same", activation="relu", name=name)


def squeezenet_pool_padding(side: int) -> str:
    """'valid' pools, as in the original v1.1, unless they would shrink the image to nothing.

    With 'valid' pools the feature map is 1x1 after pool5 for 31..46 pixel inputs (CIFAR's 32 works,
    as does ImageNet's 224, which gives 13x13); below 31 pixels it would be empty, so smaller inputs
    use 'same' pools, which only ever halve the size, rounding up.
    """
    side = (side - 3) // 2 + 1  # conv1: 3x3, stride 2, no padding
    for _ in POOL_AFTER:
        side = (side - 3) // 2 + 1
    return "valid" if side >= 1 else "same"


def trainable_units(model_name: str) -> list[str]:
    """The unit names a trainable plan may list for `model_name`."""
    if model_name not in UNITS:
        raise ValueError(f"unknown model {model_name!r}; valid models: {', '.join(VALID_MODELS)}")
    return list(UNITS[model_name])


def apply_trainable_plan(model: keras.Model, model_name: str, plan) -> None:
    """Set which base layers train: plan "none", "all" or a list of units. The head always trains.

    A nested model set to `trainable=False` freezes all its layers whatever their own flag says, so
    the base itself stays trainable and each of its layers gets its own flag.
    """
    selected = selected_units(model_name, plan)
    base = model.get_layer(model_name)
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name.split("_")[0] in selected


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
