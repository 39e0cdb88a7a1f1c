"""The one interface every backbone has: [0, 1] RGB in, penultimate features or source logits out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Backbone(nn.Module):
    """A classifier split at its penultimate layer, normalising its own input."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        *,
        body: nn.Module,
        head: nn.Module,
        num_features: int,
        input_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        labels: list[str],
        ref: dict[str, Any],
        identity: str | None = None,
    ) -> None:
        super().__init__()
        self.body = body
        self.head = head
        self.num_features = num_features
        self.input_size = input_size
        self.labels = labels
        self.ref = ref
        # What feature caches are keyed by: the reference, or an artifact's content hash.
        self.identity = identity or json.dumps(ref, sort_keys=True)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] RGB → the input distribution the weights were trained on."""
        return (x - self.mean) / self.std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N × num_features) of [0, 1] RGB images."""
        return self.body(self.normalize(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Source-task logits (N × len(labels)) of [0, 1] RGB images."""
        return self.head(self.features(x))

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def freeze(self) -> Backbone:
        """Stop gradients to the weights and keep normalisation layers in inference mode."""
        self.requires_grad_(False)
        self.eval()
        return self


def split_last_linear(model: nn.Module) -> tuple[nn.Module, nn.Linear]:
    """Replace the model's last nn.Linear by Identity; return (body, that linear layer)."""
    last: tuple[str, nn.Linear] | None = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = (name, module)
    if last is None:
        raise ValueError(f"{type(model).__name__} has no final linear layer to split at")
    name, linear = last
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], nn.Identity())
    return model, linear


def stages(module: nn.Module) -> list[nn.Module]:
    """The module's blocks in forward order: top-level children, containers opened one level."""
    result: list[nn.Module] = []
    for child in module.children():
        if isinstance(child, nn.Sequential | nn.ModuleList) and len(child) > 1:
            result.extend(child.children())
        else:
            result.append(child)
    return [m for m in result if any(True for _ in m.parameters())]


def last_block_parameters(backbone: Backbone, share: float = 0.1) -> list[nn.Parameter]:
    """Parameters of the trailing blocks that together hold at least `share` of the body."""
    blocks = stages(backbone.body)
    total = sum(p.numel() for p in backbone.body.parameters())
    chosen: list[nn.Parameter] = []
    for block in reversed(blocks):
        chosen.extend(block.parameters())
        if sum(p.numel() for p in chosen) >= share * total:
            break
    return chosen


@cache
def imagenet_labels() -> list[str]:
    """The 1,000 ImageNet class names, from torchvision's weights metadata (no download)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
