"""timm's models as 'timm:<name>'."""

from __future__ import annotations

import copy
from typing import Any

from reprogramming.backbones.base import Backbone, imagenet_labels
from reprogramming.errors import UnavailableError


def build(name: str, weights: str) -> Backbone:
    """A timm model with its classifier split off; pretrained weights come from timm's hub."""
    import timm

    pretrained = weights != "random"
    try:
        model: Any = timm.create_model(name, pretrained=pretrained)  # timm models vary
    except Exception as exc:  # hub download errors when offline
        raise UnavailableError(
            f"timm weights for '{name}' are not cached and could not be downloaded "
            f"(this host may be offline): {exc}",
            field="backbone.weights",
        ) from exc
    head = copy.deepcopy(model.get_classifier())
    num_features = int(getattr(head, "in_features", model.num_features))
    model.reset_classifier(0)
    cfg = model.pretrained_cfg or {}
    num_classes = getattr(head, "out_features", 1000)
    labels = imagenet_labels() if num_classes == 1000 else [str(i) for i in range(num_classes)]
    return Backbone(
        body=model,
        head=head,
        num_features=num_features,
        input_size=int(cfg.get("input_size", (3, 224, 224))[-1]),
        mean=tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
        std=tuple(cfg.get("std", (0.229, 0.224, 0.225))),
        labels=labels,
        ref={"name": f"timm:{name}", "weights": "random" if not pretrained else "imagenet"},
    )
