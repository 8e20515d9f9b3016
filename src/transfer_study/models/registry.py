"""The model families an experiment's `model` may name, each declared in one module of models/families/.

A family says everything the workflow needs to know about one backbone: how to build its base (a nested
keras.Model named after the family, from a local weights file or random), the preprocessing layer in
front of it, the units a `trainable` plan may name and which base layers each takes, the head, the
smallest input, the default dropout, where Keras's own ImageNet no-top weights file is, and how to write
a file of that layout (the demo's pretrained stand-ins).

This module and the family modules import no Keras at import time: the config check and the Snakefile
read the registry while planning. Keras is imported inside the functions that build.
"""

from __future__ import annotations

from transfer_study.models.families import (
    convnexttiny,
    efficientnetv2b0,
    mobilenetv3small,
    resnet50v2,
    squeezenet,
    vgg16,
)
from transfer_study.models.families.base import ModelFamily, WeightsSource
from transfer_study.registry import Registry

__all__ = ["BUILT_IN", "FAMILIES", "ModelFamily", "UnknownModel", "WeightsSource", "get", "names", "register"]


class UnknownModel(ValueError):
    """A model name that no family is registered under."""


BUILT_IN = (
    convnexttiny.FAMILY,
    efficientnetv2b0.FAMILY,
    mobilenetv3small.FAMILY,
    resnet50v2.FAMILY,
    squeezenet.FAMILY,
    vgg16.FAMILY,
)
FAMILIES: Registry[ModelFamily] = Registry("model", "models", UnknownModel, BUILT_IN)


def register(family: ModelFamily) -> ModelFamily:
    return FAMILIES.register(family)


def names() -> list[str]:
    return FAMILIES.names()


def get(name: str) -> ModelFamily:
    return FAMILIES.get(name)
