"""Backbones: registry names → frozen-able classifiers split at the penultimate layer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reprogramming.backbones import efficientnet_lite, timm_, torchvision_
from reprogramming.backbones.base import Backbone, last_block_parameters
from reprogramming.errors import UnknownNameError
from reprogramming.spec import BackboneSpec

__all__ = [
    "Backbone",
    "BackboneInfo",
    "build_backbone",
    "check_backbone_name",
    "last_block_parameters",
    "list_backbones",
]

# Turns a model id (a finished job's model) into its artifact directory; the service provides it.
ModelResolver = Callable[[str], Path]


@dataclass(frozen=True)
class BackboneInfo:
    """A catalog entry."""

    name: str
    source: str
    available_offline: bool
    input_size: int | None = None


def build_backbone(spec: BackboneSpec, *, resolve_model: ModelResolver | None = None) -> Backbone:
    """The backbone a spec names: registry name, earlier model, or artifact directory."""
    if spec.name is None:
        from reprogramming.artifacts import artifact_backbone

        if spec.artifact is not None:
            return artifact_backbone(Path(spec.artifact), resolve_model=resolve_model)
        if resolve_model is None:
            raise UnknownNameError(
                "a model_id backbone needs the service to resolve it", field="backbone.model_id"
            )
        assert spec.model_id is not None
        backbone = artifact_backbone(resolve_model(spec.model_id), resolve_model=resolve_model)
        backbone.ref = {"model_id": spec.model_id}
        return backbone
    name = spec.name
    check_backbone_name(name)
    if name in efficientnet_lite.LITE_VARIANTS:
        return efficientnet_lite.build(name, spec.weights)
    if name.startswith("timm:"):
        return timm_.build(name.removeprefix("timm:"), spec.weights)
    return torchvision_.build(name, spec.weights)


def check_backbone_name(name: str) -> None:
    """Raise UnknownNameError unless `name` is a backbone this engine can build."""
    if name in efficientnet_lite.LITE_VARIANTS or name in torchvision_.model_names():
        return
    if name.startswith("timm:"):
        import timm

        if timm.is_model(name.removeprefix("timm:")):
            return
        raise UnknownNameError(f"timm has no model '{name[5:]}'", field="backbone.name")
    raise UnknownNameError(
        f"unknown backbone '{name}'; use one of {', '.join(efficientnet_lite.LITE_VARIANTS)}, "
        "a torchvision model name (e.g. resnet18, see GET /v1/backbones) or 'timm:<name>'",
        field="backbone.name",
    )


def list_backbones() -> list[BackboneInfo]:
    """Every named backbone, saying whether its pretrained weights are usable offline here."""
    infos = [
        BackboneInfo(name, "efficientnet-lite-pytorch", efficientnet_lite.is_available(name), size)
        for name, (size, _, _) in efficientnet_lite.LITE_VARIANTS.items()
    ]
    for name in torchvision_.model_names():
        infos.append(BackboneInfo(name, "torchvision", torchvision_.is_available(name)))
    infos.append(BackboneInfo("timm:<name>", "timm", False))
    return infos
