"""Classification heads put on a base, and the head's dropout."""

from __future__ import annotations

import random


def dense_head(x, num_classes: int, head: dict):
    """Global average pooling, dropout, one dense layer: the head of the TensorFlow transfer-learning
    tutorial (VGG16 in the beans study), and of the keras.applications backbones."""
    from keras import layers

    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = head_dropout(head["dropout"])(x)
    # float32 whatever the dtype policy: a softmax in float16 loses the small probabilities.
    return layers.Dense(num_classes, activation=head["activation"], name="predictions", dtype="float32")(x)


def head_dropout(rate: float):
    """Dropout with an explicit seed, drawn the way Keras draws one for `seed=None`.

    TensorFlow and JAX behave exactly as with `seed=None`. On PyTorch an unseeded Dropout falls back to
    torch's global generator; a seeded one draws from its seed generator, whose state the training loop
    sets from (seed, epoch), so torch runs also resume and cache exactly.
    """
    from keras import layers

    return layers.Dropout(rate, seed=random.randint(1, int(1e9)), name="head_dropout")
