"""ConvNeXt-Tiny from keras.applications: a patchify stem and four stages (3, 3, 9, 3 blocks)."""

from __future__ import annotations

from transfer_study.models.applications import application_base, identity_preprocessing, save_notop_h5
from transfer_study.models.families.base import ModelFamily, WeightsSource
from transfer_study.models.heads import dense_head

KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications/convnext/"
NOTOP_FILE = "convnext_tiny_notop.h5"


def build_base(input_shape, weights_path):
    # include_preprocessing (the default) puts a Normalization by the ImageNet mean and variance of
    # 0..255 pixels into the base: it takes 0..255 pixels, so the family's preprocessing is an identity.
    return application_base("ConvNeXtTiny", "convnexttiny", input_shape, weights_path)


FAMILY = ModelFamily(
    name="convnexttiny",
    display_name="ConvNeXtTiny",
    build_base=build_base,
    preprocessing=identity_preprocessing,
    preprocessing_layer="convnexttiny_preprocess",
    # Stage n (1..3) starts with the downsampling block in front of it; the final layer
    # normalisation (a name Keras gives it) closes stage 3.
    units={
        "stem": "convnext_tiny_(prestem|stem)",
        "stage0": "convnext_tiny_stage_0_",
        **{f"stage{n}": f"convnext_tiny_(downsampling_block_{n - 1}|stage_{n}_)" for n in (1, 2)},
        "stage3": "convnext_tiny_(downsampling_block_2|stage_3_)|layer_normalization",
    },
    build_head=dense_head,
    save_weights=save_notop_h5,
    default_weights=WeightsSource(
        url=KERAS_WEIGHTS + NOTOP_FILE,
        checksums={"sha256": "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"},
        file_name=NOTOP_FILE,
    ),
    # For the memory a job declares (models/memory.py); tests/test_models.py checks them.
    parameters=27_820_128,
    activations_per_pixel=573.8,
    largest_activation_per_pixel=24.0,
    # A 4x4 stride-4 stem and three 2x2 downsamplings.
    min_image_size=32,
    default_dropout=0.2,
)
