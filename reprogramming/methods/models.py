"""Reprogrammed models: a backbone plus what each method learns around it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reprogramming.backbones.base import Backbone, last_block_parameters
from reprogramming.methods.label_mapping import BayesianMapping, IndexMapping, LearnedMapping
from reprogramming.methods.program import AdversarialProgram

LabelMapping = IndexMapping | LearnedMapping | BayesianMapping


class ReprogrammedModel(nn.Module):
    """[0, 1] RGB images at `input_size` → logits over `labels`; features() feeds classify()."""

    method: str = ""
    # The manifest the model was loaded from (`load_model` sets it; empty while training).
    artifact_manifest: dict[str, Any]

    def __init__(self, backbone: Backbone, labels: list[str], *, frozen: bool) -> None:
        super().__init__()
        self.backbone = backbone
        self.labels = list(labels)
        self.frozen = frozen
        self.artifact_manifest = {}
        if frozen:
            backbone.freeze()

    @property
    def input_size(self) -> int:
        return self.backbone.input_size

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.features(x)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))

    def train(self, mode: bool = True) -> ReprogrammedModel:
        if not self.frozen:
            return super().train(mode)
        # A frozen backbone stays in eval mode (it keeps its batch-norm statistics); skipping it
        # also spares walking its thousands of submodules on every train()/eval() call.
        self.training = mode
        for name, child in self.named_children():
            if name != "backbone":
                child.train(mode)
        return self

    def learned_state(self) -> dict[str, torch.Tensor]:
        """What an artifact stores: everything except a frozen backbone's weights."""
        state = self.state_dict()
        if self.frozen:
            state = {k: v for k, v in state.items() if not k.startswith("backbone.")}
        return state

    def config(self) -> dict[str, Any]:
        """Constructor arguments an artifact needs to rebuild this model."""
        return {}


class LinearProbeModel(ReprogrammedModel):
    """The thesis's "new and improved" method: a dense layer on frozen penultimate features."""

    method = "linear_probe"

    def __init__(self, backbone: Backbone, labels: list[str], *, input_size: int) -> None:
        super().__init__(backbone, labels, frozen=True)
        self._input_size = input_size
        self.head = nn.Linear(backbone.num_features, len(labels))

    @property
    def input_size(self) -> int:
        return self._input_size

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features.to(self.head.weight.dtype))

    def config(self) -> dict[str, Any]:
        return {"input_size": self._input_size}


class FinetuneModel(ReprogrammedModel):
    """Baselines: the backbone's weights train too (all, or the last block), with a new head.

    `scratch` is the same model over a randomly initialised backbone.
    """

    def __init__(
        self, backbone: Backbone, labels: list[str], *, input_size: int, layers: str, method: str
    ) -> None:
        super().__init__(backbone, labels, frozen=False)
        self.method = method
        self._input_size = input_size
        self.layers = layers
        self.head = nn.Linear(backbone.num_features, len(labels))
        backbone.head.requires_grad_(False)  # the source head is not part of the new model
        if layers == "last_block":
            backbone.body.requires_grad_(False)
            for parameter in last_block_parameters(backbone):
                parameter.requires_grad_(True)

    @property
    def input_size(self) -> int:
        return self._input_size

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def config(self) -> dict[str, Any]:
        return {"input_size": self._input_size, "layers": self.layers}


class ProgramModel(ReprogrammedModel):
    """Adversarial reprogramming: program in front of the frozen backbone, label map behind it."""

    method = "adversarial_program"

    def __init__(
        self,
        backbone: Backbone,
        labels: list[str],
        *,
        program: AdversarialProgram,
        mapping: LabelMapping,
        mapping_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(backbone, labels, frozen=True)
        self.program = program
        self.mapping = mapping
        # How the mapping is re-estimated while training (BLM's λ and top-K ratio); recorded.
        self.mapping_options = dict(mapping_options or {})

    @property
    def input_size(self) -> int:
        return self.program.input_size

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.features(self.program(x))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        source = self.backbone.head(features)
        return self.mapping(source.float())

    def source_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's own logits for the programmed images (used to choose a mapping)."""
        return self.backbone.head(self.features(x))

    def config(self) -> dict[str, Any]:
        return {
            "canvas_size": self.program.canvas_size,
            "image_size": self.program.image_size,
            "region": self.program.region,
            "operation": self.program.operation,
            "prompt": self.program.prompt,
            "input_scaling": self.program.input_scaling,
            "label_mapping": self.mapping.kind,
            **self.mapping_options,
        }


class Classifier(nn.Module):
    """A model's classify() half as a module of its own: what trains on cached features."""

    def __init__(self, model: ReprogrammedModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model.classify(features)

    def learned_state(self) -> dict[str, torch.Tensor]:
        return self.model.learned_state()

    def load_state_dict(self, state: Any, strict: bool = True, assign: bool = False) -> Any:
        return self.model.load_state_dict(state, strict=False)
