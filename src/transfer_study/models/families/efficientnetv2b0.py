"""EfficientNetV2-B0 from keras.applications: a stem, six stages of (fused) MBConv blocks, a top conv."""

from __future__ import annotations

from transfer_study.models.applications import application_base, identity_preprocessing, save_notop_h5
from transfer_study.models.families.base import ModelFamily, WeightsSource
from transfer_study.models.heads import dense_head

KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
NOTOP_FILE = "efficientnetv2-b0_notop.h5"


def build_base(input_shape, weights_path):
    # include_preprocessing (the default) puts Rescaling(1/255) and a Normalization by the ImageNet
    # mean and variance into the base: it takes 0..255 pixels, so the family's preprocessing is an
    # identity.
    return application_base("EfficientNetV2B0", "efficientnetv2b0", input_shape, weights_path)


FAMILY = ModelFamily(
    name="efficientnetv2b0",
    display_name="EfficientNetV2B0",
    build_base=build_base,
    preprocessing=identity_preprocessing,
    preprocessing_layer="efficientnetv2b0_preprocess",
    # 'stem_conv', 'block3b_expand_conv' (stage 3, its second block), 'top_conv'.
    units={"stem": "stem_", **{f"block{n}": f"block{n}[a-z]_" for n in range(1, 7)}, "top": "top_"},
    build_head=dense_head,
    save_weights=save_notop_h5,
    default_weights=WeightsSource(
        url=KERAS_WEIGHTS + NOTOP_FILE,
        checksums={"md5": "893217f2bb855e2983157299931e43ff"},
        file_name=NOTOP_FILE,
    ),
    # For the memory a job declares (models/memory.py); tests/test_models.py checks them.
    parameters=5_919_312,
    activations_per_pixel=322.2,
    largest_activation_per_pixel=8.0,
    min_image_size=32,
    default_dropout=0.2,
)
