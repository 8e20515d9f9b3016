"""ResNet50V2 from keras.applications: a stem and four stages of bottleneck blocks."""

from __future__ import annotations

from transfer_study.models.applications import application_base, save_notop_h5
from transfer_study.models.families.base import ModelFamily, WeightsSource
from transfer_study.models.heads import dense_head

KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
NOTOP_FILE = "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"


def build_base(input_shape, weights_path):
    return application_base("ResNet50V2", "resnet50v2", input_shape, weights_path)


def preprocessing(name: str):
    """keras.applications.resnet_v2.preprocess_input ("tf" mode): 0..255 -> -1..1. The base itself does
    no preprocessing."""
    from keras import layers

    return layers.Rescaling(1 / 127.5, offset=-1, name=name)


FAMILY = ModelFamily(
    name="resnet50v2",
    display_name="ResNet50V2",
    build_base=build_base,
    preprocessing=preprocessing,
    preprocessing_layer="resnet50v2_preprocess",
    # 'conv1_conv', 'conv4_block2_1_bn', ...; the final batch normalisation ('post_bn') normalises
    # conv5's output, so it trains with conv5. The shortcut max-pools Keras names itself go with
    # the block before them.
    units={
        "conv1": "conv1_|pool1_",
        **{f"conv{n}": f"conv{n}_" for n in (2, 3, 4)},
        "conv5": "conv5_|post_",
    },
    build_head=dense_head,
    save_weights=save_notop_h5,
    default_weights=WeightsSource(
        url=KERAS_WEIGHTS + NOTOP_FILE,
        checksums={"md5": "fac2f116257151a9d068a22e544a4917"},
        file_name=NOTOP_FILE,
    ),
    # For the memory a job declares (models/memory.py); tests/test_models.py checks them.
    parameters=23_564_800,
    activations_per_pixel=625.4,
    largest_activation_per_pixel=16.6,
    # Five stride-2 steps: 32 px leave one 1x1 feature map.
    min_image_size=32,
    default_dropout=0.2,
)
