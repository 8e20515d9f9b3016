"""Exact caching of the frozen front of a model: compute it once per split, train only the rest.

When every layer in front of the first trainable one is frozen and draws no random numbers, its output
is the same in every epoch. `plan_frozen_cache` finds the deepest such point in the model and splits the
model there into a *prefix* (image -> features) and a *tail* (features -> predictions). Both reuse the
model's own layer objects, so training the tail trains the model itself: afterwards the full model holds
exactly the weights that training it whole would have given (up to float rounding).

The models nest their base ("vgg16", "squeezenet") as a model inside the model, and the split point of a
fine-tuning plan lies inside it (in front of fire8, say). So the model is first traced into a flat graph
of leaf layers (`keras.models.clone_model` with the same layers and a call hook that inlines nested
models), and the cut is a tensor of that graph:

- every leaf layer in front of the cut is frozen (no trainable weights) and deterministic (no seed
  generator, no behaviour that depends on `training`, bar a frozen BatchNormalization);
- the cut is clean: it is the only tensor the layers behind it take from the layers in front of it;
- at least one frozen layer with weights lies in front of it (otherwise there is nothing to save).

Anything else (augmentation or dropout in front of the first trainable layer, a nested model that cannot
be traced, a bare keras.ops operation in the graph, layer names that clash once flattened, a cache that
would exceed MAX_CACHE_BYTES) falls back to ordinary training of the whole model, with the reason.

Only `keras` and public Keras API: the same on the TensorFlow, JAX and PyTorch backends.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from transfer_study.training.batches import predict_in_batches

# Features of every training and validation image, on disk during the training (FrozenSplit.features)
# and read back through the page cache every epoch; past this, train uncached.
MAX_CACHE_BYTES = 8 * 1024**3
# Features computed at once when they go to a file (Keras's predict holds them twice while it gathers
# its batches): 64 MB, a few hundred images at 224 px, thousands of small ones.
FEATURE_CHUNK_BYTES = 64 * 1024**2
ITEM_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4}  # the features' dtype follows the dtype policy


class Unsplittable(Exception):
    """The model cannot be traced into a flat graph of leaf layers."""


@dataclass
class _Call:
    """One leaf layer called on tensors of the flat graph."""

    layer: keras.layers.Layer
    args: tuple
    kwargs: dict
    inputs: list
    outputs: list
    blocker: str | None  # why the cache cannot reach past this layer, or None

    @property
    def name(self) -> str:
        return f"{self.layer.name} ({type(self.layer).__name__})"


@dataclass
class FrozenSplit:
    """The model cut in two at a frozen, deterministic tensor; both parts share the model's layers."""

    prefix: keras.Model
    tail: keras.Model
    cut_layer: str
    cached_layers: int
    feature_shape: tuple
    feature_dtype: str

    def features(self, images: np.ndarray, batch_size: int, into: Path | None = None) -> np.ndarray:
        """The prefix's output for every image: what the tail trains on. With `into`, written there
        as an .npy a chunk of batches at a time and returned as a memory map of that file, so that
        neither the images nor the features are ever all in memory."""
        if into is None:
            return np.asarray(predict_in_batches(self.prefix, images, batch_size))
        shape = (len(images), *self.feature_shape)
        # NumPy's .npy has no bfloat16; float32 holds each bfloat16 exactly, and the tail casts back.
        stored = "float32" if self.feature_dtype == "bfloat16" else self.feature_dtype
        features = np.lib.format.open_memmap(into, mode="w+", dtype=stored, shape=shape)
        # Whole batches per chunk: the prefix sees the same batches as over the whole array.
        row_bytes = math.prod(self.feature_shape) * np.dtype(stored).itemsize
        step = batch_size * max(1, FEATURE_CHUNK_BYTES // (row_bytes * batch_size))
        for start in range(0, len(images), step):
            chunk = images[start : start + step]
            features[start : start + len(chunk)] = predict_in_batches(self.prefix, chunk, batch_size)
        features.flush()
        return np.load(into, mmap_mode="r")


@dataclass
class CachePlan:
    split: FrozenSplit | None
    reason: str

    @property
    def used(self) -> bool:
        return self.split is not None


def plan_frozen_cache(model: keras.Model, images: int = 0, enabled: bool = True) -> CachePlan:
    """Where to cut `model` for training on cached features, or why not to.

    `images` is how many images the cache will hold (training plus validation), for the memory check.
    """
    if not enabled:
        return CachePlan(None, "turned off (cache_frozen: false)")
    try:
        flat_input, flat_output, calls = trace(model)
    except Unsplittable as error:
        return CachePlan(None, f"the model cannot be flattened: {error}")
    first_blocked = next((i for i, call in enumerate(calls) if call.blocker), len(calls))
    front = calls[:first_blocked]
    blocker = calls[first_blocked] if first_blocked < len(calls) else None
    where = f"{blocker.name}, {blocker.blocker}" if blocker else "the output"
    if not any(call.layer.weights for call in front):
        return CachePlan(None, f"nothing to cache: no frozen layer with weights in front of {where}")
    cut = _deepest_clean_cut(flat_input, flat_output, calls, first_blocked)
    if cut is None:
        return CachePlan(None, f"no single tensor separates the frozen layers in front of {where}")
    index, tensor = cut
    cut_layer = next(call.layer.name for call in calls if any(x is tensor for x in call.outputs))
    shape = tuple(int(side) for side in tensor.shape[1:])
    dtype = keras.backend.standardize_dtype(tensor.dtype)
    size = images * math.prod(shape) * ITEM_BYTES.get(dtype, 8)
    if size > MAX_CACHE_BYTES:
        return CachePlan(
            None,
            f"the features after {cut_layer} would take {size / 1024**3:.1f} GiB "
            f"(limit {MAX_CACHE_BYTES / 1024**3:.0f} GiB)",
        )
    try:
        prefix = keras.Model(flat_input, tensor, name=f"{model.name}_frozen_prefix")
        tail = _replay_tail(model.name, tensor, flat_output, calls[index + 1 :])
    except (ValueError, KeyError) as error:  # e.g. layer names that clash once flattened
        return CachePlan(None, f"the model cannot be split at {cut_layer}: {error}")
    cached_layers = len([layer for layer in prefix.layers if not isinstance(layer, keras.layers.InputLayer)])
    split = FrozenSplit(prefix, tail, cut_layer, cached_layers, shape, dtype)
    reason = (
        f"{cached_layers} frozen, deterministic layers up to {split.cut_layer} (in front of {where}) "
        f"give the same output every epoch; their {'x'.join(map(str, shape))} features are computed "
        "once per split"
    )
    return CachePlan(split, reason)


def trace(model: keras.Model):
    """(input, output, leaf calls in order): `model` as one flat graph of its own leaf layers.

    Each functional model is first recorded one level deep (`clone_model` with its own layers and a
    call hook), then its calls are replayed on the flat graph's tensors, nested models recursively.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise Unsplittable("only models with one input and one output are split")
    calls: list[_Call] = []

    def apply(layer, args, kwargs, container_trainable: bool):
        if not isinstance(layer, keras.layers.Layer):
            # A keras.ops operation applied to a symbolic tensor (MobileNetV3's `x + 3.0`): no layer.
            raise Unsplittable(f"{type(layer).__name__} operation {layer.name} is not a layer")
        trainable = container_trainable and layer.trainable
        if isinstance(layer, keras.Model):
            if _extra(args, kwargs):
                raise Unsplittable(f"nested model {layer.name} is called with extra arguments")
            if isinstance(layer, keras.Sequential):
                x = args[0]
                for inner in layer.layers:
                    x = apply(inner, (x,), {}, trainable)
                return x
            recorded = _record(layer)
            if recorded is not None:
                return replay(*recorded, args[0], trainable)
        outputs = layer(*args, **kwargs)  # a leaf (or a subclassed model, taken as one)
        calls.append(
            _Call(
                layer, args, kwargs, _tensors((args, kwargs)), _tensors(outputs), _blocker(layer, trainable)
            )
        )
        return outputs

    def replay(graph_input, graph_output, graph_calls, x, trainable: bool):
        tensors = {id(graph_input): x}

        def swap(value):
            return tensors[id(value)] if isinstance(value, keras.KerasTensor) else value

        for layer, args, kwargs, outputs in graph_calls:
            args, kwargs = keras.tree.map_structure(swap, (args, kwargs))
            new = apply(layer, args, kwargs, trainable)
            for old, replayed in zip(_tensors(outputs), _tensors(new), strict=True):
                tensors[id(old)] = replayed
        return tensors[id(graph_output)]

    recorded = _record(model)
    if recorded is None:
        raise Unsplittable(f"{model.name} is not a functional model")
    reference = model.inputs[0]
    flat_input = keras.Input(batch_shape=reference.shape, dtype=reference.dtype, name="flat_input")
    flat_output = replay(*recorded, flat_input, model.trainable)
    return flat_input, flat_output, calls


def _record(model: keras.Model):
    """(input, output, [(layer, args, kwargs, outputs)]) of one functional model, nested models whole."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise Unsplittable(f"nested model {model.name} has several inputs or outputs")
    graph_calls = []

    def record(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        graph_calls.append((layer, args, kwargs, outputs))
        return outputs

    try:
        copy = keras.models.clone_model(model, clone_function=_same_layer, call_function=record)
    except ValueError:  # a subclassed model: no graph to look into
        return None
    return copy.inputs[0], copy.outputs[0], graph_calls


def _extra(args, kwargs) -> bool:
    """Whether a nested model is called with more than one tensor (a `mask=None` is no more)."""
    single = len(args) == 1 and isinstance(args[0], keras.KerasTensor)
    return not single or any(value is not None for value in kwargs.values())


def _same_layer(layer):
    return layer


def _tensors(structure) -> list:
    return [x for x in keras.tree.flatten(structure) if isinstance(x, keras.KerasTensor)]


def _blocker(layer, trainable: bool) -> str | None:
    """Why the output of `layer` may differ from epoch to epoch (None: it does not)."""
    if layer.trainable_weights:
        if not trainable:
            raise Unsplittable(f"layer {layer.name} is trainable inside a frozen nested model")
        return "trainable"
    if any(v.path.endswith("seed_generator_state") for v in layer.variables):
        return "random in training"
    takes_training = "training" in inspect.signature(layer.call).parameters
    frozen_batch_norm = isinstance(layer, keras.layers.BatchNormalization) and not layer.trainable
    if takes_training and not frozen_batch_norm:
        return "behaves differently in training"
    return None


def _deepest_clean_cut(flat_input, flat_output, calls: list[_Call], first_blocked: int):
    """(index, tensor): the last call in front of `first_blocked` after which exactly one tensor is
    still needed later on, that tensor not being the model's input and frozen weights lying in front.
    """
    producer = {id(flat_input): -1}
    for index, call in enumerate(calls):
        producer.update({id(x): index for x in call.outputs})
    last_use = {}
    tensors = {id(flat_input): flat_input}
    for index, call in enumerate(calls):
        for x in call.inputs:
            last_use[id(x)] = index
            tensors[id(x)] = x
    last_use[id(flat_output)] = len(calls)
    tensors[id(flat_output)] = flat_output
    # The tail must keep at least one layer: the last call never closes the prefix.
    for index in range(min(first_blocked, len(calls) - 1) - 1, -1, -1):
        if not any(call.layer.weights for call in calls[: index + 1]):
            return None
        live = [key for key, used in last_use.items() if producer.get(key, math.inf) <= index < used]
        if len(live) == 1 and live[0] != id(flat_input):
            return index, tensors[live[0]]
    return None


def _replay_tail(name: str, cut, flat_output, calls: list[_Call]) -> keras.Model:
    """The layers behind the cut, called again on a new input that stands for the cached features."""
    features = keras.Input(batch_shape=cut.shape, dtype=cut.dtype, name="frozen_features")
    tensors = {id(cut): features}

    def swap(value):
        return tensors[id(value)] if isinstance(value, keras.KerasTensor) else value

    for call in calls:
        args, kwargs = keras.tree.map_structure(swap, (call.args, call.kwargs))
        outputs = call.layer(*args, **kwargs)
        for old, new in zip(call.outputs, _tensors(outputs), strict=True):
            tensors[id(old)] = new
    return keras.Model(features, tensors[id(flat_output)], name=f"{name}_trainable_tail")
