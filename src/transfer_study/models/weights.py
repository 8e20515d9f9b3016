"""Reading and writing pretrained weights in the Keras 2 (legacy HDF5) layout.

Some published weights exist only as Keras 2 files, whose layer names may differ from what Keras 3
allows (the SqueezeNet v1.1 file's 'fire2/squeeze1x1'; its family module gives the mapping). Keras's own
legacy loader pairs layers by position, so a drift between the two architectures could put arrays into
the wrong layers where shapes happen to agree; this loader matches every layer by name and refuses any
mismatch instead.

The writers exist so the demo workflow can produce small "pretrained" files that go through exactly
the same loading code as the real downloads.
"""

from __future__ import annotations

from os import PathLike

import h5py
import keras
import numpy as np


def load_keras2_h5(model: keras.Model, path: str | PathLike, file_name_of=None) -> int:
    """Load the Keras 2 weights in `path` into `model`, each layer matched by name; return how many
    arrays were set. `file_name_of(layer name)` is the name the file gives the model's layer (the same
    name where None).

    Every layer with weights must appear on both sides with the same variables and shapes, otherwise
    a ValueError names the layer. Nothing is assigned unless everything matches.
    """
    file_name_of = file_name_of or unchanged_name
    file_layers = read_keras2_layers(path)
    model_layers = {file_name_of(layer.name): layer for layer in model.layers if layer.weights}
    check_same_layers(model_layers, set(file_layers), path)
    assignments = []
    for file_name, arrays in file_layers.items():
        assignments += match_variables(model_layers[file_name], file_name, arrays, path)
    for variable, array in assignments:
        variable.assign(array)
    return len(assignments)


def read_keras2_layers(path: str | PathLike) -> dict[str, dict[str, np.ndarray]]:
    """{file layer name: {variable name ('kernel', 'bias'): array}} for layers that have weights.

    The dataset names come from each layer's `weight_names` attribute rather than being guessed: the
    real file's TensorFlow scopes carry arbitrary suffixes ('fire2/squeeze1x1_3/kernel:0').
    """
    layers = {}
    with h5py.File(path, "r") as h5:
        for layer_name in decoded(h5.attrs["layer_names"]):
            group = h5[layer_name]
            weight_names = decoded(group.attrs.get("weight_names", []))
            if not weight_names:
                continue  # activations, pools, concatenations: nothing to load
            arrays = {variable_name(w): np.asarray(group[w]) for w in weight_names}
            if len(arrays) != len(weight_names):
                raise ValueError(f"layer {layer_name!r} of {path}: repeated in {weight_names}")
            layers[layer_name] = arrays
    return layers


# What to do when a file's layers are not the model's, in the errors that say so.
OTHER_MODEL = (
    "the file holds another model's weights: check the source that the experiment's weights "
    "(experiments.*.weights) names"
)


def decoded(names) -> list[str]:
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names]


def variable_name(weight_name: str) -> str:
    """'fire2/squeeze1x1_3/kernel:0' -> 'kernel' (the name Keras 3 gives the variable)."""
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]


def check_same_layers(model_layers: dict, file_names: set[str], path) -> None:
    """`model_layers`: {the file's name for a layer: the model's layer}."""
    missing_in_file = sorted(set(model_layers) - file_names)
    if missing_in_file:
        names = [model_layers[name].name for name in missing_in_file]
        raise ValueError(
            f"layer {names[0]!r} of the model (file name {missing_in_file[0]!r}) has no weights in "
            f"{path}; all missing: {names}; {OTHER_MODEL}"
        )
    missing_in_model = sorted(file_names - set(model_layers))
    if missing_in_model:
        raise ValueError(
            f"layer {missing_in_model[0]!r} of {path} has weights but the model has no layer of that "
            f"name; all missing: {missing_in_model}; {OTHER_MODEL}"
        )


def match_variables(layer, file_name: str, arrays: dict[str, np.ndarray], path="the file") -> list:
    """Pair each variable of `layer` with its array from the file (`path`, named in the errors),
    checking names and shapes."""
    variables = {v.name: v for v in layer.weights}
    if set(variables) != set(arrays):
        raise ValueError(
            f"{path}: layer {layer.name!r}: the model has variables {sorted(variables)}, "
            f"file layer {file_name!r} has {sorted(arrays)}; {OTHER_MODEL}"
        )
    pairs = []
    for name, variable in variables.items():
        expected, found = tuple(variable.shape), arrays[name].shape
        if expected != found:
            raise ValueError(
                f"{path}: layer {layer.name!r} ({file_name!r} in the file): {name} has shape {expected} "
                f"in the model but {found} in the file; {OTHER_MODEL}"
            )
        pairs.append((variable, arrays[name]))
    return pairs


def save_keras2_notop_h5(model: keras.Model, path: str | PathLike) -> None:
    """Write a VGG16 base in the Keras 2 layout that `keras.applications.VGG16(weights=path)` reads.

    Keras 3 picks the loader from the file name: only '.h5' / '.hdf5' reach the legacy loader, and
    '.weights.h5' is read as the Keras 3 format, so other names are refused here rather than later.
    """
    name = str(path)
    if name.endswith(".weights.h5") or not name.endswith((".h5", ".hdf5")):
        raise ValueError(
            f"{name}: Keras reads legacy weights only from a path ending in '.h5' or '.hdf5' "
            "(and not '.weights.h5')"
        )
    write_keras2_h5(model, path, unchanged_name)


def unchanged_name(layer_name: str) -> str:
    return layer_name


def write_keras2_h5(model: keras.Model, path, file_name_of) -> None:
    """The Keras 2 layout: root attrs list every layer; each layer group lists its datasets.

    Keras's legacy loader pairs the file's layers that have weights with the model's such layers in
    order, and within a layer assigns the arrays in `weight_names` order, so both follow the model's
    own order (kernel before bias).
    """
    with h5py.File(path, "w") as h5:
        h5.attrs["layer_names"] = encoded(file_name_of(layer.name) for layer in model.layers)
        h5.attrs["backend"] = keras.backend.backend().encode("utf8")
        h5.attrs["keras_version"] = keras.__version__.encode("utf8")
        for layer in model.layers:
            file_name = file_name_of(layer.name)
            group = h5.create_group(file_name)
            weight_names = [f"{file_name}/{v.name}:0" for v in layer.weights]
            group.attrs["weight_names"] = encoded(weight_names)
            for weight_name, variable in zip(weight_names, layer.weights, strict=True):
                group.create_dataset(weight_name, data=variable.numpy())


def encoded(names) -> np.ndarray:
    # An empty list becomes an empty float array, exactly as Keras 2 wrote weightless layers.
    return np.array([name.encode("utf8") for name in names])
