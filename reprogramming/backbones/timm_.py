"""timm's models as 'timm:<name>'."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

from reprogramming.backbones.base import IMAGENET_MEAN, IMAGENET_STD, Backbone, imagenet_labels
from reprogramming.backbones.source import RGB, BackboneInfo, BackboneSource
from reprogramming.errors import UnavailableError, UnknownNameError


@dataclass(frozen=True)
class TimmSource(BackboneSource):
    """timm's models behind a prefix; a model's pretrained config overrides the defaults here."""

    family: ClassVar[str] = "timm"
    prefix: str = "timm:"
    input_size: int = 224
    mean: RGB = IMAGENET_MEAN
    std: RGB = IMAGENET_STD

    @property
    def naming(self) -> str:
        return f"'{self.prefix}<name>'"

    def owns(self, name: str) -> bool:
        return name.startswith(self.prefix)

    def check(self, name: str) -> None:
        import timm

        if not timm.is_model(name.removeprefix(self.prefix)):
            raise UnknownNameError(
                f"timm has no model '{name.removeprefix(self.prefix)}'", field="backbone.name"
            )

    def catalog(self) -> list[BackboneInfo]:
        # timm's thousands of models stay out of the list; their weights come from its hub.
        return [BackboneInfo(f"{self.prefix}<name>", self.family, False)]

    def build(self, name: str, weights: str) -> Backbone:
        """A timm model with its classifier split off; pretrained weights come from timm's hub."""
        import timm

        arch = name.removeprefix(self.prefix)
        pretrained = weights != "random"
        try:
            model: Any = timm.create_model(arch, pretrained=pretrained)  # timm models vary
        except Exception as exc:  # hub download errors when offline
            raise UnavailableError(
                f"timm weights for '{arch}' are not cached and could not be downloaded "
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
            input_size=int(cfg.get("input_size", (3, self.input_size, self.input_size))[-1]),
            mean=tuple(cfg.get("mean", self.mean)),
            std=tuple(cfg.get("std", self.std)),
            labels=labels,
            ref={"name": f"{self.prefix}{arch}", "weights": "imagenet" if pretrained else "random"},
        )
