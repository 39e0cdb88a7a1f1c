"""Methods: how each `method.kind` turns a backbone into a model for the new labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reprogramming.backbones.base import Backbone
from reprogramming.methods import label_mapping
from reprogramming.methods.models import (
    FinetuneModel,
    LinearProbeModel,
    ProgramModel,
    ReprogrammedModel,
)
from reprogramming.methods.program import AdversarialProgram
from reprogramming.registry import Registry

__all__ = ["METHODS", "ProgramModel", "ReprogrammedModel", "build_model", "list_methods"]

# A builder takes (config, backbone, labels, seed): config is the method spec's fields, or the
# `config` an artifact recorded, so jobs and artifact loading build models the same way.
Builder = Callable[[dict[str, Any], Backbone, list[str], int], ReprogrammedModel]
METHODS: Registry[Builder] = Registry("method")


@METHODS.register("linear_probe", description="Frozen backbone, new dense layer (the thesis)")
def _linear_probe(
    config: dict[str, Any], backbone: Backbone, labels: list[str], seed: int
) -> ReprogrammedModel:
    size = config.get("input_size") or backbone.input_size
    return LinearProbeModel(backbone, labels, input_size=size)


@METHODS.register(
    "adversarial_program", description="Learned input program + label mapping (Elsayed et al.)"
)
def _adversarial_program(
    config: dict[str, Any], backbone: Backbone, labels: list[str], seed: int
) -> ReprogrammedModel:
    canvas = config.get("canvas_size") or backbone.input_size
    image = config.get("image_size")
    if image is None:
        scale = config.get("scale")
        image = max(2, round(scale * canvas)) if scale else canvas
    program = AdversarialProgram(
        canvas_size=canvas,
        image_size=image,
        region=config.get("region", "full"),
        operation=config.get("operation", "add"),
    )
    kind = config.get("label_mapping", "learned")
    num_source, num_target = backbone.num_labels, len(labels)
    mapping: label_mapping.IndexMapping | label_mapping.LearnedMapping
    if kind == "learned":
        mapping = label_mapping.LearnedMapping(num_source, num_target)
    elif kind == "random":
        index = label_mapping.random_subset(num_source, num_target, seed=seed)
        mapping = label_mapping.IndexMapping(index, kind)
    else:  # first_k; frequency and iterative start from it and are re-chosen while training
        mapping = label_mapping.IndexMapping(label_mapping.first_k(num_source, num_target), kind)
    return ProgramModel(backbone, labels, program=program, mapping=mapping)


def _finetune_builder(method: str) -> Builder:
    def build(
        config: dict[str, Any], backbone: Backbone, labels: list[str], seed: int
    ) -> ReprogrammedModel:
        size = config.get("input_size") or backbone.input_size
        layers = config.get("layers", "all")
        return FinetuneModel(backbone, labels, input_size=size, layers=layers, method=method)

    return build


METHODS.register("finetune", description="Baseline: train the backbone's weights too")(
    _finetune_builder("finetune")
)
METHODS.register("scratch", description="Baseline: same architecture, random initialisation")(
    _finetune_builder("scratch")
)


def build_model(
    kind: str, config: dict[str, Any], backbone: Backbone, labels: list[str], *, seed: int = 0
) -> ReprogrammedModel:
    """The model a method kind builds over `backbone` for `labels`."""
    return METHODS.get(kind).factory(config, backbone, labels, seed)


def list_methods() -> list[dict[str, object]]:
    """Every method kind with its description (methods need nothing downloaded)."""
    return [
        {"name": e.name, "description": e.description, "available_offline": True} for e in METHODS
    ]
