"""What a model family declares, in one place (one instance per module of this folder).

Nothing here imports Keras: the config check and the Snakefile read the families while planning. The
callables a family holds import Keras themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class WeightsSource:
    """A published no-top weights file: a `source` of the config (url, checksums, size) and its name.

    Keras's file hashes are md5 (32 hex digits) or sha256 (64 hex digits); `checksums` keys them by
    algorithm, as the config's sources do. `size` is in bytes, None where it is not known.
    """

    url: str
    checksums: dict[str, str]
    file_name: str
    size: int | None = None

    def as_source(self, folder: str = "weights") -> dict:
        """The entry for the config's `sources`."""
        source = {"path": f"{folder}/{self.file_name}", "url": self.url, "checksums": dict(self.checksums)}
        if self.size is not None:
            source["size"] = self.size
        return source


@dataclass(frozen=True)
class ModelFamily:
    """One backbone family. The callables import Keras themselves.

    - build_base(input_shape, weights_path or None) -> keras.Model named `name`;
    - preprocessing(layer_name) -> the layer turning raw 0..255 pixels into the base's input;
    - units: unit name -> regular expression matched at the start of a base layer's name. A layer with
      weights must match exactly one; a layer without weights whose name matches none (an input, a
      padding, a layer Keras named itself) goes with the layer before it;
    - build_head(x, num_classes, head) -> outputs, head being {"activation", "dropout"};
    - save_weights(base, path) writes the base in the published file's layout;
    - parameters, activations_per_pixel, largest_activation_per_pixel: the base's size, for the memory
      a job declares before Keras is imported (models/memory.py): its weights, and the values of every
      layer's output (and of the largest one) per pixel of the input image, as at 224 px.
    """

    name: str
    display_name: str
    build_base: Callable
    preprocessing: Callable
    preprocessing_layer: str
    units: dict[str, str]
    build_head: Callable
    save_weights: Callable
    default_weights: WeightsSource
    parameters: int
    activations_per_pixel: float
    largest_activation_per_pixel: float
    min_image_size: int = 32
    default_dropout: float = 0.2
    # Scale every convolution to unit output spread before the demo's short pretraining (for bases
    # without batch normalisation, whose signal otherwise fades; see training/pretrain.py).
    unit_variance_init: bool = False
    # Rough seconds of CPU training per image and epoch at 32x32 px on 2 cores, for the warning that a
    # real-size run would train on the CPU (training/accelerator.py); None: not measured.
    cpu_seconds_per_image_at_32px: float | None = None
    _patterns: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_patterns", {unit: re.compile(p) for unit, p in self.units.items()})

    def matching_units(self, layer_name: str) -> list[str]:
        """The units whose pattern matches `layer_name` (one, or none for a layer without weights)."""
        return [unit for unit, pattern in self._patterns.items() if pattern.match(layer_name)]

    def layer_units(self, base) -> dict[str, str]:
        """{base layer name: unit} for every layer of the built base."""
        assigned = {}
        current = next(iter(self.units))
        for layer in base.layers:
            matching = self.matching_units(layer.name)
            if len(matching) > 1:
                raise ValueError(f"{self.name}: layer {layer.name!r} matches the units {matching}")
            if not matching and layer.weights:
                raise ValueError(
                    f"{self.name}: layer {layer.name!r} has weights but belongs to none of the units "
                    f"{', '.join(self.units)}"
                )
            current = matching[0] if matching else current
            assigned[layer.name] = current
        return assigned
