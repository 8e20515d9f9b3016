"""Offline stand-ins for the ImageNet weight files, for the demo configuration.

A backbone is trained briefly on a synthetic ten-class task (demo.cifar10_image shapes) and its base
is written in the published file's layout, so the demo's transfer experiments load it through exactly
the code that loads the real files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transfer_study.data import decode_resized
from transfer_study.demo import cifar10_arrays
from transfer_study.files import write_atomically


def source_task(spec: dict) -> tuple[np.ndarray, np.ndarray]:
    images, labels = cifar10_arrays(spec["images_per_class"], spec["seed"] + 1000)
    if spec["image_size"] != images.shape[1]:
        images = np.stack([decode_resized(image, spec["image_size"]) for image in images])
    return images, labels


def pretrain_backbone(spec: dict, destination: Path, log=print) -> dict:
    """Train model + temporary head on the source task; save the base in the published layout."""
    import keras

    from transfer_study.models import build_model
    from transfer_study.training import compile_model, one_hot
    from transfer_study.weights import save_keras2_notop_h5, save_squeezenet_keras2_h5

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
    compile_model(model, experiment)
    images, labels = source_task(spec)
    history = model.fit(images, one_hot(labels, 10), batch_size=16, epochs=spec["epochs"], verbose=2)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    save = save_keras2_notop_h5 if spec["model"] == "vgg16" else save_squeezenet_keras2_h5
    base = model.get_layer(spec["model"])  # the base is a nested model named after it
    write_atomically(destination, lambda partial: save(base, partial))
    accuracy = history.history["accuracy"][-1]
    log(f"pretrained {spec['model']} on the synthetic source task: accuracy {accuracy:.3f}")
    return {"source_task_accuracy": float(accuracy)}
