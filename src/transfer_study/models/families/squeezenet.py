"""SqueezeNet v1.1 (the CIFAR-10 study): built here with the layer names of the Keras 2 ImageNet file,
whose weights models/weights.py loads by name; inputs scaled to 0..1; a convolutional head."""

from __future__ import annotations

import re

from transfer_study.models.families.base import ModelFamily, WeightsSource
from transfer_study.models.heads import head_dropout

# Fire module number -> (squeeze filters, expand filters per branch).
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


# Keras 3 layer 'fire2_squeeze1x1' is Keras 2 layer 'fire2/squeeze1x1'; 'conv1' is the same in both.
FIRE_PREFIX = re.compile(r"^(fire\d+)_")


def keras2_name(keras_name: str) -> str:
    """The name the Keras 2 SqueezeNet file uses for a layer of our Keras 3 SqueezeNet."""
    return FIRE_PREFIX.sub(r"\1/", keras_name)


def load_keras2_h5(base, path) -> int:
    """The Keras 2 ImageNet file's weights into `base`, matched by name; how many arrays were set."""
    from transfer_study.models.weights import load_keras2_h5 as load

    return load(base, path, keras2_name)


def build_base(input_shape, weights_path):
    base = squeezenet_v1_1(input_shape)
    if weights_path:
        load_keras2_h5(base, weights_path)
    return base


def preprocessing(name: str):
    from keras import layers

    return layers.Rescaling(1 / 255, name=name)


def conv_head(x, num_classes: int, head: dict):
    """SqueezeNet's usual head: a 1x1 convolution per class, averaged over space."""
    from keras import layers

    x = head_dropout(head["dropout"])(x)
    x = layers.Conv2D(num_classes, 1, name="conv10")(x)
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    # float32 whatever the dtype policy: a softmax in float16 loses the small probabilities.
    return layers.Activation(head["activation"], name="predictions", dtype="float32")(x)


def save_weights(base, path) -> None:
    """`base`'s weights in the layout of the real Keras 2 SqueezeNet file."""
    from transfer_study.models.weights import write_keras2_h5

    write_keras2_h5(base, path, keras2_name)


def squeezenet_v1_1(input_shape, name: str = "squeezenet"):
    """SqueezeNet v1.1 without classifier; layer names as in the Keras 2 file, '/' read as '_'."""
    import keras
    from keras import layers

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
    from keras import layers

    x = relu_conv(squeeze, 1, f"{prefix}_squeeze1x1")(x)
    left = relu_conv(expand, 1, f"{prefix}_expand1x1")(x)
    right = relu_conv(expand, 3, f"{prefix}_expand3x3")(x)
    return layers.Concatenate(axis=-1, name=f"{prefix}_concat")([left, right])


def relu_conv(filters: int, size: int, name: str):
    from keras import layers

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


FAMILY = ModelFamily(
    name="squeezenet",
    display_name="SqueezeNet v1.1",
    build_base=build_base,
    preprocessing=preprocessing,
    preprocessing_layer="rescale",
    # 'conv1', then 'fire8_squeeze1x1' and the like; pools go with the unit before them.
    units={"conv1": "conv1$", **{f"fire{n}": f"fire{n}_" for n in FIRE_MODULES}},
    build_head=conv_head,
    save_weights=save_weights,
    default_weights=WeightsSource(
        url="https://github.com/rcmalli/keras-squeezenet/releases/download/v1.0/"
        "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
        checksums={"sha256": "2d935d8c102ad1232484a77da8e6fbdf3ff4ab608974a0d8b6283115ffff204f"},
        file_name="squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
        size=3032184,
    ),
    # For the memory a job declares (models/memory.py); tests/test_models.py checks them.
    parameters=722_496,
    activations_per_pixel=86.7,
    largest_activation_per_pixel=15.7,
    # CIFAR-10 stage 3: about 50 s per epoch of 40,000 images (docs/performance.md).
    cpu_seconds_per_image_at_32px=0.0013,
    # The pools' padding adapts to any size (squeezenet_pool_padding).
    min_image_size=8,
    default_dropout=0.5,
    unit_variance_init=True,
)
