"""How a model is compiled for training, shared by the training job and the demo's pretraining: the
optimizer, the loss and metric, the labels one-hot, and the dtype policy it is built under."""

from __future__ import annotations

from contextlib import contextmanager

import keras
import numpy as np

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
JIT_COMPILE = (True, False, "auto")


def make_optimizer(spec: dict) -> keras.optimizers.Optimizer:
    optimizers = {
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    return optimizers[spec.get("name", "adam")](learning_rate=spec.get("learning_rate", 1e-3))


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return keras.utils.to_categorical(labels, num_classes).astype("float32")


def compile_model(model: keras.Model, experiment: dict, optimizer=None) -> None:
    """Adam/SGD/RMSprop, cross-entropy, accuracy; `optimizer` shares an existing optimizer object."""
    jit_compile = experiment.get("jit_compile", "auto")
    if jit_compile not in JIT_COMPILE:
        raise ValueError(f"jit_compile must be one of true, false, auto; got {jit_compile!r}")
    model.compile(
        optimizer=make_optimizer(experiment.get("optimizer", {})) if optimizer is None else optimizer,
        loss=keras.losses.CategoricalCrossentropy(),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )


@contextmanager
def dtype_policy(precision: str):
    """Build (and train) under the Keras dtype policy `precision`; the previous one is put back after."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
