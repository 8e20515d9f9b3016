"""MobileNetV3Small from keras.applications: a stem conv, eleven inverted-residual blocks, a last conv."""

from __future__ import annotations

from transfer_study.models.applications import application_base, identity_preprocessing, save_notop_h5
from transfer_study.models.families.base import ModelFamily, WeightsSource
from transfer_study.models.heads import dense_head

KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
NOTOP_FILE = "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"

# The blocks ('expanded_conv' is block 0, then 'expanded_conv_1'..'expanded_conv_10') grouped into the
# stages of the MobileNetV3 paper's Table 2, by output channels: 16, 24, 40, 48, 96.
STAGES = {"stage1": [0], "stage2": [1, 2], "stage3": [3, 4, 5], "stage4": [6, 7], "stage5": [8, 9, 10]}


def build_base(input_shape, weights_path):
    # include_preprocessing (the default) puts Rescaling(1/127.5, offset -1) into the base: it takes
    # 0..255 pixels, so the family's preprocessing is an identity.
    return application_base("MobileNetV3Small", "mobilenetv3small", input_shape, weights_path)


def block_pattern(number: int) -> str:
    return "expanded_conv_(?![0-9])" if number == 0 else f"expanded_conv_{number}_"


FAMILY = ModelFamily(
    name="mobilenetv3small",
    display_name="MobileNetV3Small",
    build_base=build_base,
    preprocessing=identity_preprocessing,
    preprocessing_layer="mobilenetv3small_preprocess",
    # The stem is 'conv' + 'conv_bn', the last conv 'conv_1' + 'conv_1_bn'; the activations Keras
    # names itself ('re_lu_3', 'activation_7') go with the layer before them.
    units={
        "stem": "conv(_bn)?$",
        **{stage: "|".join(map(block_pattern, blocks)) for stage, blocks in STAGES.items()},
        "top": "conv_1(_bn)?$",
    },
    build_head=dense_head,
    save_weights=save_notop_h5,
    default_weights=WeightsSource(
        url=KERAS_WEIGHTS + NOTOP_FILE,
        checksums={"md5": "d3e8ec802a04aa4fc771ee12a9a9b836"},
        file_name=NOTOP_FILE,
    ),
    # For the memory a job declares (models/memory.py); tests/test_models.py checks them.
    parameters=939_120,
    activations_per_pixel=106.7,
    largest_activation_per_pixel=4.7,
    min_image_size=32,
    default_dropout=0.2,
)
