"""torchvision's classification models by name, with their weights enums."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import torch

from reprogramming.backbones.base import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Backbone,
    imagenet_labels,
    split_last_linear,
)
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


def is_available(name: str, weights: str = "imagenet") -> bool:
    member = resolve_weights(name, weights)
    return member is None or cache_path(member).exists()


def build(name: str, weights: str) -> Backbone:
    """A torchvision model split before its last linear layer."""
    import torchvision

    member = resolve_weights(name, weights)
    model = torchvision.models.get_model(name, weights=None)
    mean, std, size = IMAGENET_MEAN, IMAGENET_STD, 224
    labels = imagenet_labels()
    if member is not None:
        path = cache_path(member)
        try:
            state = member.get_state_dict(progress=False, check_hash=False)
        except Exception as exc:  # URLError, HTTPError, socket errors when offline
            raise UnavailableError(
                f"weights {member} for {name} are not cached at {path} and could not be "
                f"downloaded (this host may be offline): {exc}",
                field="backbone.weights",
            ) from exc
        model.load_state_dict(state)
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
