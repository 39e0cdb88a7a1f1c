"""torchvision's classification models by name, with their weights enums."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import torch

from reprogramming.backbones.base import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Backbone,
    imagenet_labels,
    split_last_linear,
)
from reprogramming.backbones.source import RGB, BackboneInfo, BackboneSource
from reprogramming.errors import UnavailableError


@cache
def model_names() -> list[str]:
    """Names of torchvision's ImageNet classification models."""
    import torchvision

    return list(torchvision.models.list_models(module=torchvision.models))


def resolve_weights(name: str, weights: str) -> Any | None:
    """The weights enum member for 'imagenet'/'DEFAULT'/an enum name, or None for 'random'."""
    import torchvision

    if weights == "random":
        return None
    enum = torchvision.models.get_model_weights(name)
    key = "DEFAULT" if weights in ("imagenet", "DEFAULT") else weights
    try:
        return enum[key]
    except KeyError:
        known = ", ".join(["imagenet", "random", *enum.__members__])
        raise UnavailableError(
            f"{name} has no weights '{weights}'; choose one of {known}", field="backbone.weights"
        ) from None


def cache_path(weights: Any) -> Path:
    """Where torch keeps the downloaded file of a weights enum member."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


@dataclass(frozen=True)
class TorchvisionSource(BackboneSource):
    """torchvision's models by their own names; a weights enum may override the defaults here."""

    family: ClassVar[str] = "torchvision"
    input_size: int = 224
    mean: RGB = IMAGENET_MEAN
    std: RGB = IMAGENET_STD

    @property
    def naming(self) -> str:
        return "a torchvision model name (e.g. resnet18, see GET /v1/backbones)"

    def owns(self, name: str) -> bool:
        return name in model_names()

    def check(self, name: str) -> None:
        """Every name it owns is a model it can build."""

    def available(self, name: str, weights: str = "imagenet") -> bool:
        """Whether the weights are random or already downloaded."""
        member = resolve_weights(name, weights)
        return member is None or cache_path(member).exists()

    def catalog(self) -> list[BackboneInfo]:
        return [BackboneInfo(name, self.family, self.available(name)) for name in model_names()]

    def build(self, name: str, weights: str) -> Backbone:
        import torchvision

        member = resolve_weights(name, weights)
        model = torchvision.models.get_model(name, weights=None)
        mean, std, size = self.mean, self.std, self.input_size
        labels = imagenet_labels()
        if member is not None:
            model.load_state_dict(_downloaded_state(name, member))
            transforms = member.transforms()
            mean, std = tuple(transforms.mean), tuple(transforms.std)
            size = int(transforms.crop_size[0])
            labels = list(member.meta.get("categories") or labels)
        try:
            body, head = split_last_linear(model)
        except ValueError as exc:
            raise UnavailableError(f"{name} cannot be used as a backbone: {exc}") from exc
        return Backbone(
            body=body,
            head=head,
            num_features=head.in_features,
            input_size=size,
            mean=mean,
            std=std,
            labels=labels,
            ref={"name": name, "weights": "random" if member is None else member.name},
        )


def _downloaded_state(name: str, member: Any) -> dict[str, torch.Tensor]:
    """The weights of an enum member, from torch's cache or a download."""
    try:
        state: dict[str, torch.Tensor] = member.get_state_dict(progress=False, check_hash=False)
    except Exception as exc:  # URLError, HTTPError, socket errors when offline
        raise UnavailableError(
            f"weights {member} for {name} are not cached at {cache_path(member)} and could not "
            f"be downloaded (this host may be offline): {exc}",
            field="backbone.weights",
        ) from exc
    return state
