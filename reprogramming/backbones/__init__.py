"""Backbones: registry names → frozen-able classifiers split at the penultimate layer.

A name belongs to the first registered source whose scheme owns it: the EfficientNet-Lite
variants by their names, torchvision's models by theirs, timm's as 'timm:<name>'. Finished
models used as backbones are built one level up, in `reprogramming.factory`.
"""

from __future__ import annotations

from reprogramming.backbones.base import Backbone, last_block_parameters
from reprogramming.backbones.efficientnet_lite import LiteSource
from reprogramming.backbones.registry import BackboneRegistry
from reprogramming.backbones.source import BackboneInfo, BackboneSource
from reprogramming.backbones.timm_ import TimmSource
from reprogramming.backbones.torchvision_ import TorchvisionSource

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneInfo",
    "BackboneRegistry",
    "BackboneSource",
    "check_backbone_name",
    "create_backbone",
    "last_block_parameters",
    "list_backbones",
]

BACKBONES = BackboneRegistry()
BACKBONES.register(LiteSource())
BACKBONES.register(TorchvisionSource())
BACKBONES.register(TimmSource())


def create_backbone(name: str, *, weights: str = "imagenet") -> Backbone:
    """The backbone a registry name names, with the weights asked for."""
    source = BACKBONES.source_for(name)
    source.check(name)
    return source.build(name, weights)


def check_backbone_name(name: str) -> None:
    """Raise UnknownNameError unless `name` is a backbone this engine can build."""
    BACKBONES.source_for(name).check(name)


def list_backbones() -> list[BackboneInfo]:
    """Every named backbone, saying whether its pretrained weights are usable offline here."""
    return [info for source in BACKBONES for info in source.catalog()]
