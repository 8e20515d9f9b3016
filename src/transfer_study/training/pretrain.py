"""Offline stand-ins for the ImageNet weight files, for the demo configuration.

A backbone is trained briefly on a synthetic ten-class task (demo.cifar10_image shapes) and its base
is written in the published file's layout, so the demo's transfer experiments load it through exactly
the code that loads the real files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transfer_study.data.datasets import decode_resized
from transfer_study.data.synthetic import cifar10_arrays
from transfer_study.files import write_atomically
from transfer_study.models import registry


def source_task(spec: dict) -> tuple[np.ndarray, np.ndarray]:
    images, labels = cifar10_arrays(spec["images_per_class"], spec["seed"] + 1000)
    if spec["image_size"] != images.shape[1]:
        images = np.stack([decode_resized(image, spec["image_size"]) for image in images])
    return images, labels


def scale_to_unit_variance(model, base_name: str, images: np.ndarray) -> None:
    """Rescale each convolution of the base, in order, so its output has unit spread on `images`.

    VGG16 has no batch normalisation: from Keras's default initialisation the signal shrinks layer
    after layer, the brief pretraining barely moves it, and a frozen base then hands the new head
    features too faint to learn from. Starting from unit-variance layers (data-dependent
    initialisation, as in Mishkin and Matas's LSUV) lets the short pretraining learn features
    that a frozen base can pass on.
    """
    import keras

    base = model.get_layer(base_name)
    # The layer of models.build_model that feeds the base (no augmentation while pretraining).
    preprocessing = model.get_layer(registry.get(base_name).preprocessing_layer)
    batch = keras.Model(model.input, preprocessing.output)(images.astype("float32"))
    for layer in base.layers:
        if isinstance(layer, keras.layers.Conv2D):
            output = keras.Model(base.input, layer.output)(batch)
            spread = float(keras.ops.convert_to_numpy(keras.ops.std(output)))
            if spread > 0:
                layer.kernel.assign(layer.kernel / spread)


def pretrain_backbone(spec: dict, destination: Path, log=print) -> dict:
    """Train model + temporary head on the source task; save the base in the published layout."""
    import keras

    from transfer_study.models.build import build_model
    from transfer_study.training.compiling import compile_model, one_hot

    keras.utils.set_random_seed(spec["seed"])
    experiment = {
        "model": spec["model"],
        "image_size": spec["image_size"],
        "trainable": "all",
        "head": {"activation": "softmax", "dropout": 0.0},
        "augmentation": None,
        "optimizer": {"name": "adam", "learning_rate": spec["learning_rate"]},
    }
    model = build_model(experiment, num_classes=10, weights_path=None)
    images, labels = source_task(spec)
    family = registry.get(spec["model"])
    if family.unit_variance_init:
        scale_to_unit_variance(model, family.name, images[:64])
    compile_model(model, experiment)
    history = model.fit(images, one_hot(labels, 10), batch_size=16, epochs=spec["epochs"], verbose=2)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    base = model.get_layer(family.name)  # the base is a nested model named after its family
    write_atomically(destination, lambda partial: family.save_weights(base, partial))
    accuracy = history.history["accuracy"][-1]
    log(f"pretrained {spec['model']} on the synthetic source task: accuracy {accuracy:.3f}")
    return {"source_task_accuracy": float(accuracy)}
