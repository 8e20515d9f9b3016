"""The trained model as it is served: without the layers that act only in training.

Its own module, imported only by the export jobs, so that it can change without retraining anything.
"""

from __future__ import annotations

import keras
from keras import layers

AUGMENTATION_LAYERS = (layers.RandomFlip, layers.RandomRotation)


def inference_model(model: keras.Model) -> keras.Model:
    """The same model without its augmentation layers, sharing every other layer and weight.

    The random layers are identity at inference, but their random ops stay in a traced graph, and
    exporters that meet them (tf2onnx, for one) write a file their runtime cannot load. Exports are
    made from this model; its outputs equal the trained model's in inference mode.
    """

    def without_augmentation(layer):
        if isinstance(layer, AUGMENTATION_LAYERS):
            return layers.Identity(name=layer.name)
        return layer

    served = keras.models.clone_model(model, clone_function=without_augmentation)
    # Exporters trace a model that has been called; one image of zeros does it.
    served(keras.ops.zeros((1, *model.input_shape[1:]), dtype=model.input.dtype))
    return served
