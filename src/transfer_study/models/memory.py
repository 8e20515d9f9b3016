"""The memory a training or evaluation job declares (`mem_mb`), estimated at planning without Keras.

A job holds the backend's runtime, the model's variables (in training also their gradients and Adam's
two moments), and the activations of one batch: in training every layer's output, kept for the
backward pass; in inference the largest layer's input and output at once. The images themselves are
mapped from the preprocessed file a batch at a time (data/arrays.py), so the data set's size is no part
of it. The sizes come from the model registry (measured from each built base by `base_size`); the
constants are fitted to the peaks benchmarks/memory.py measures, with room to spare.
"""

from __future__ import annotations

import math

from transfer_study.models import registry

# Python, NumPy and the backend with Keras imported and a first graph built: 650 to 770 MB measured in
# the demo's jobs (TensorFlow, CPU).
RUNTIME_MB = 1000
BYTES_PER_VALUE = 4  # float32 activations and variables (mixed precision keeps float32 variables)
# Variables held in training per weight: the weight, its gradient, Adam's first and second moments.
TRAINING_COPIES = 4
# Per value of every layer's output in training: the output kept for the backward pass, and the
# gradients, which the backend frees layer by layer (VGG16 at 224 px, batch 32: 2.9 GB measured for
# 2.0 GB of outputs, TensorFlow on a CPU).
TRAINING_ACTIVATION_COPIES = 1.5
# Per value of the largest layer's output in inference: its input, itself and the backend's scratch
# (VGG16 at 224 px, batch 256: 9.3 GB measured for 3.3 GB).
INFERENCE_ACTIVATION_COPIES = 3
ROUND_TO_MB = 100


def model_job_mb(experiment: dict, trains: bool, batch_size: int | None = None) -> int:
    """`mem_mb` of a job that trains (or evaluates, predicts, exports) `experiment`: a training spec
    with `model`, `image_size` and `batch_size`; `batch_size` overrides the experiment's."""
    family = registry.get(experiment["model"])
    pixels = experiment["image_size"] ** 2 * (batch_size or experiment["batch_size"])
    if trains:
        variables = family.parameters * TRAINING_COPIES
        activations = pixels * family.activations_per_pixel * TRAINING_ACTIVATION_COPIES
    else:
        variables = family.parameters
        activations = pixels * family.largest_activation_per_pixel * INFERENCE_ACTIVATION_COPIES
    total = RUNTIME_MB + (variables + activations) * BYTES_PER_VALUE / 1024**2
    return math.ceil(total / ROUND_TO_MB) * ROUND_TO_MB


# An export holds the model several times over while it converts it (the Keras model, the traced
# graph, the converter's own copies, the written file, the runtime that checks it), and how many times
# depends on the format. Peak RSS measured in the demo (6 December 2026, 32-px inputs): VGG16 (14.7
# million parameters) 986 MB for the SavedModel, 1,242 MB for LiteRT and 3,809 MB for ONNX, whose
# converter keeps about 50 copies of the weights; SqueezeNet (1.2 million) 812, 811 to 859 and 1,017 MB.
# Each count leaves room above those.
EXPORT_WEIGHT_COPIES = {"saved_model": 8, "litert": 16, "onnx": 64}


def export_job_mb(experiment: dict, export_format: str) -> int:
    """`mem_mb` of a job that exports a trained run of `experiment` to `export_format` and checks it."""
    family = registry.get(experiment["model"])
    copies = EXPORT_WEIGHT_COPIES[export_format]
    converting = family.parameters * copies * BYTES_PER_VALUE / 1024**2
    rounded = math.ceil(converting / ROUND_TO_MB) * ROUND_TO_MB
    return model_job_mb(experiment, trains=False) + rounded


def base_size(base) -> dict:
    """The registry's size fields of a built base (a keras.Model), measured at its input size: its
    parameter count and the values of all its layers' outputs, and of the largest, per input pixel."""
    height, width = base.input_shape[1:3]
    outputs = []
    for layer in base.layers:
        for tensor in layer.output if isinstance(layer.output, list | tuple) else [layer.output]:
            outputs.append(math.prod(tensor.shape[1:]))
    return {
        "parameters": base.count_params(),
        "activations_per_pixel": sum(outputs) / (height * width),
        "largest_activation_per_pixel": max(outputs) / (height * width),
    }


def machine_memory_mb() -> int | None:
    """The machine's physical memory in MB, or None where the platform does not say."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 1024**2
    except (ValueError, OSError, AttributeError):
        return None
