"""Backbones and models from what a spec or an artifact names.

A backbone spec names a registry backbone (`reprogramming.backbones`), a finished model by its
id, or an artifact directory. The last two are models whose own backbones are named in their
manifests the same way, so building a backbone and loading a model call each other; both live
here, above the registry and the artifact files, so that neither of those imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from reprogramming.artifacts import read_manifest, restore_model
from reprogramming.backbones import Backbone, create_backbone
from reprogramming.backbones.source import RGB
from reprogramming.errors import UnknownNameError
from reprogramming.methods import ReprogrammedModel
from reprogramming.methods.models import Classifier
from reprogramming.spec import BackboneSpec

__all__ = ["ArtifactSource", "ModelResolver", "build_backbone", "load_model"]

# Turns a model id (a finished job's model) into its artifact directory; the service provides it.
ModelResolver = Callable[[str], Path]

# Methods whose artifacts hold every weight, their backbone's included.
_OWN_WEIGHTS = ("finetune", "scratch")


def build_backbone(spec: BackboneSpec, *, resolve_model: ModelResolver | None = None) -> Backbone:
    """The backbone a spec names: registry name, earlier model, or artifact directory."""
    if spec.name is not None:
        return create_backbone(spec.name, weights=spec.weights)
    return artifact_source(spec, resolve_model=resolve_model).build()


def load_model(
    directory: Path,
    *,
    backbone: Backbone | None = None,
    resolve_model: ModelResolver | None = None,
) -> ReprogrammedModel:
    """Rebuild a trained model from its artifact; a shared frozen backbone may be passed in."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if backbone is None or manifest["method"] in _OWN_WEIGHTS:
        ref = dict(manifest["backbone"])
        if manifest["method"] in _OWN_WEIGHTS:  # the artifact holds every weight: skip pretrained
            ref["weights"] = "random"
        backbone = build_backbone(BackboneSpec(**ref), resolve_model=resolve_model)
    return restore_model(directory, manifest, backbone)


@dataclass(frozen=True)
class ArtifactSource:
    """A finished model as a backbone: its features and logits are the model's, labels too."""

    family: ClassVar[str] = "artifact"
    directory: Path  # where its weights are
    ref: dict[str, str]  # how a model built on it refers to it
    resolve_model: ModelResolver | None = None
    # The model takes [0, 1] RGB itself and normalises inside, so the backbone passes it on.
    mean: RGB = (0.0, 0.0, 0.0)
    std: RGB = (1.0, 1.0, 1.0)

    def build(self) -> Backbone:
        """The finished model wrapped as a backbone (features, then its classifier as the head)."""
        model = load_model(self.directory, resolve_model=self.resolve_model)
        with torch.no_grad():
            probe = torch.zeros(1, 3, model.input_size, model.input_size)
            num_features = int(model.features(probe).shape[1])
        return Backbone(
            body=_Features(model),
            head=Classifier(model),
            num_features=num_features,
            input_size=model.input_size,
            mean=self.mean,
            std=self.std,
            labels=list(model.labels),
            ref=self.ref,
            identity=f"artifact:{model.artifact_manifest.get('artifact_id')}",
        )


def artifact_source(spec: BackboneSpec, *, resolve_model: ModelResolver | None) -> ArtifactSource:
    """The source of a backbone spec that names an artifact directory or a model id."""
    if spec.artifact is not None:
        directory = Path(spec.artifact)
        ref = {"artifact": str(directory.resolve())}
        return ArtifactSource(directory, ref, resolve_model=resolve_model)
    if resolve_model is None or spec.model_id is None:
        raise UnknownNameError(
            "a model_id backbone needs the service to resolve it", field="backbone.model_id"
        )
    directory = resolve_model(spec.model_id)
    return ArtifactSource(directory, {"model_id": spec.model_id}, resolve_model=resolve_model)


class _Features(nn.Module):
    def __init__(self, model: ReprogrammedModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)
