"""Custom layers of the model families, registered with Keras so saved models reload in safe mode.

Importing this module registers them; models/build.py imports it, so loading a `.keras` file after
importing the builder works.
"""

from __future__ import annotations

import keras
from keras import layers, ops

# What keras.applications.vgg16.preprocess_input subtracts ("caffe" mode), in BGR order.
IMAGENET_BGR_MEANS = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="transfer_study")
class VGGPreprocess(layers.Layer):
    """RGB (0..255) -> BGR minus the ImageNet means: VGG16's "caffe" preprocessing as a layer.

    A layer rather than a `Lambda` so that saved models reload in safe mode.
    """

    def call(self, inputs):
        bgr = ops.flip(ops.cast(inputs, self.compute_dtype), axis=-1)
        return bgr - ops.convert_to_tensor(IMAGENET_BGR_MEANS, dtype=self.compute_dtype)
