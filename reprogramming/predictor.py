"""Top-k predictions from a trained artifact (or a bare backbone) for images of any size or mode."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reprogramming.backbones import Backbone
from reprogramming.factory import ModelResolver, build_backbone, load_model
from reprogramming.images import ImageLike, decode_batch, to_model_input
from reprogramming.runtime import autocast, pick_device, to_device, use_bf16
from reprogramming.spec import BackboneSpec


@dataclass(frozen=True)
class Prediction:
    """One label and its probability."""

    label: str
    score: float


def top_k(labels: list[str], probs: torch.Tensor, k: int) -> list[list[Prediction]]:
    """The k most likely of `labels` for each row of probabilities (k capped at the labels)."""
    k = max(1, min(k, len(labels)))
    scores, index = probs.topk(k, dim=1)
    return [
        [Prediction(labels[i], float(s)) for s, i in zip(row_s, row_i, strict=True)]
        for row_s, row_i in zip(scores.tolist(), index.tolist(), strict=True)
    ]


class Predictor:
    """Runs a model that maps [0, 1] RGB images at `input_size` to logits over `labels`."""

    def __init__(
        self,
        model: nn.Module,
        *,
        labels: list[str],
        input_size: int,
        channels: int = 3,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int = 64,
    ) -> None:
        self.device = pick_device(device)
        self.model = to_device(model, self.device).eval()
        self.labels = labels
        self.input_size = input_size
        self.channels = channels
        self.batch_size = batch_size
        self.bf16 = use_bf16(precision, self.device, training_weights=False)

    @classmethod
    def from_artifact(
        cls,
        directory: str | Path,
        *,
        backbone: Backbone | None = None,
        resolve_model: ModelResolver | None = None,
        **kwargs: Any,
    ) -> Predictor:
        """A predictor for a trained artifact directory (optionally over a shared backbone)."""
        model = load_model(Path(directory), backbone=backbone, resolve_model=resolve_model)
        manifest = model.artifact_manifest
        return cls(
            model,
            labels=model.labels,
            input_size=model.input_size,
            channels=int(manifest["input"].get("channels", 3)),
            **kwargs,
        )

    @classmethod
    def from_backbone(cls, spec: BackboneSpec | dict[str, Any], **kwargs: Any) -> Predictor:
        """A predictor for a registry backbone's own source labels (e.g. ImageNet classes)."""
        spec = spec if isinstance(spec, BackboneSpec) else BackboneSpec(**spec)
        backbone = build_backbone(spec).freeze()
        return cls(backbone, labels=backbone.labels, input_size=backbone.input_size, **kwargs)

    def preprocess(self, images: Sequence[ImageLike]) -> torch.Tensor:
        """Decode and fit images to the model's input as one uint8 batch."""
        return decode_batch(images, channels=self.channels, size=self.input_size)

    def top_k(self, probs: torch.Tensor, k: int) -> list[list[Prediction]]:
        """The k most likely labels of each row of probabilities."""
        return top_k(self.labels, probs, k)

    @torch.inference_mode()
    def probabilities(self, batch: torch.Tensor) -> torch.Tensor:
        """Class probabilities (N × labels) of a uint8 batch."""
        outputs = []
        for chunk in batch.split(self.batch_size):
            x = to_model_input(chunk.to(self.device), self.input_size)
            with autocast(self.device, self.bf16):
                outputs.append(self.model(x).float().softmax(1).cpu())
        return torch.cat(outputs)

    def predict(self, images: Sequence[ImageLike], *, top_k: int = 5) -> list[list[Prediction]]:
        """Top-k labels with probabilities for each image."""
        if not images:
            return []
        return self.top_k(self.probabilities(self.preprocess(images)), top_k)
