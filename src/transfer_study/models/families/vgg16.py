"""VGG16 (the beans study): keras.applications' VGG16 base, Caffe-style preprocessing, a dense head."""

from __future__ import annotations

from transfer_study.models.families.base import ModelFamily, WeightsSource
from transfer_study.models.heads import dense_head


def build_base(input_shape, weights_path):
    import keras

    return keras.applications.VGG16(
        include_top=False, weights=str(weights_path) if weights_path else None, input_shape=input_shape
    )


def preprocessing(name: str):
    from transfer_study.models.layers import VGGPreprocess

    return VGGPreprocess(name=name)


def save_weights(base, path) -> None:
    from transfer_study.models.weights import save_keras2_notop_h5

    save_keras2_notop_h5(base, path)


FAMILY = ModelFamily(
    name="vgg16",
    display_name="VGG16",
    build_base=build_base,
    preprocessing=preprocessing,
    preprocessing_layer="vgg16_preprocess",
    # Layers are 'block5_conv1', 'block5_pool'; the input layer goes with block1.
    units={f"block{i}": f"block{i}_" for i in range(1, 6)},
    build_head=dense_head,
    save_weights=save_weights,
    default_weights=WeightsSource(
        url="https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        checksums={"md5": "6d6bbae143d832006294945121d1f1fc"},
        file_name="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        size=58889256,
    ),
    # For the memory a job declares (models/memory.py); tests/test_models.py checks them.
    parameters=14_714_688,
    activations_per_pixel=303.5,
    largest_activation_per_pixel=64.0,
    # VGG16: 1.5 to 6 images/s at 224 px (docs/performance.md).
    cpu_seconds_per_image_at_32px=0.008,
    # Five 2x2 poolings.
    min_image_size=32,
    default_dropout=0.2,
    unit_variance_init=True,
)
