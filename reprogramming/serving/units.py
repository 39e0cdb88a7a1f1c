"""What a server keeps of each model: its own small tensors, beside a backbone it shares.

A linear probe keeps its head; an adversarial program keeps its program (P = tanh(W ⊙ M),
computed once) and its label mapping (BLM's ω is a linear head over the source logits with no
bias). Only two program options keep more: an SMM program keeps its small mask CNN (run on its
own rows), a learned input scale keeps the scale (its rows are re-placed by it). The backbone
they were trained on is shared by every model on it, so a model costs only its own bytes. Models that train the
backbone's weights (finetune, scratch) or stand on another model (model_id backbones) own
everything and run alone, through a `Predictor`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from reprogramming.backbones.base import Backbone
from reprogramming.methods.label_mapping import BayesianMapping, IndexMapping
from reprogramming.methods.models import LinearProbeModel, ProgramModel, ReprogrammedModel
from reprogramming.predictor import Prediction, Predictor, top_k

# Methods whose artifacts hold only what they learned around a frozen, shareable backbone.
SHARED_METHODS = ("linear_probe", "adversarial_program")


@dataclass(frozen=True)
class LinearHead:
    """logits = inputs @ weight.T + bias, over the backbone's features or its source logits."""

    weight: torch.Tensor
    bias: torch.Tensor
    over: Literal["features", "source"]


@dataclass(frozen=True)
class IndexHead:
    """logits[i] = source_logits[index[i]]: the one-to-one label mappings."""

    index: torch.Tensor
    over: Literal["source"] = "source"


@dataclass(frozen=True)
class Program:
    """An adversarial program ready to apply: canvas · (1 + scale·P) + shift·P.

    add is (scale 0, shift 1), subtract (0, -1), multiply (1, 0): one formula, so a batch of
    programs with different operations is still one tensor expression.
    """

    pattern: torch.Tensor  # 3 × canvas × canvas, in (-1, 1)
    scale: float
    shift: float
    image_size: int
    canvas_size: int
    # SMM: the mask generator whose per-image mask multiplies the pattern (None: shared).
    masks: torch.nn.Module | None = None
    # A learned input scale: canvas-sized images are shrunk by it about the centre first.
    image_scale: torch.Tensor | None = None


_COEFFICIENTS = {"add": (0.0, 1.0), "subtract": (0.0, -1.0), "multiply": (1.0, 0.0)}


@dataclass
class ModelStats:
    """Per-model traffic since the model was loaded."""

    requests: int = 0
    images: int = 0
    seconds: float = 0.0


@dataclass(eq=False)
class ServedModel:
    """One loaded model: labels, input, and either shared-backbone parts or a whole predictor."""

    model_id: str
    labels: list[str]
    input_size: int
    channels: int
    # Requests whose models have equal groups may share one forward pass.
    group: tuple[str, ...]
    nbytes: int
    head: LinearHead | IndexHead | None = None
    program: Program | None = None
    backbone: Backbone | None = None
    backbone_key: str | None = None
    predictor: Predictor | None = None
    tag: Any = None
    stats: ModelStats = field(default_factory=ModelStats)

    @property
    def shared(self) -> bool:
        """Whether the model runs on a shared backbone (and can batch with other models)."""
        return self.predictor is None

    @property
    def backbone_input(self) -> int:
        """The side of the images the backbone sees: the canvas for a program."""
        return self.program.canvas_size if self.program is not None else self.input_size

    def top_k(self, probs: torch.Tensor, k: int) -> list[list[Prediction]]:
        """The k most likely labels of each row of probabilities."""
        return top_k(self.labels, probs, k)


def backbone_key(ref: dict[str, Any]) -> str:
    """The key models share a backbone by: its reference (name and weights)."""
    return json.dumps(ref, sort_keys=True)


def tensor_bytes(tensors: Any) -> int:
    """Bytes held by an iterable of tensors."""
    return sum(t.numel() * t.element_size() for t in tensors)


def module_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers."""
    return tensor_bytes(list(module.parameters()) + list(module.buffers()))


def shared_parts(
    model: ReprogrammedModel,
    *,
    backbone: Backbone,
    model_id: str,
    channels: int,
    key: str,
    device: torch.device,
) -> ServedModel:
    """A served model from a loaded probe or program: its own tensors (on `device`), beside
    the shared `backbone` it was trained on."""
    head: LinearHead | IndexHead
    program = None
    with torch.no_grad():
        if isinstance(model, LinearProbeModel):
            head = LinearHead(
                model.head.weight.detach().to(device), model.head.bias.detach().to(device),
                over="features",
            )  # fmt: skip
        elif isinstance(model, ProgramModel):
            program = _program(model, device)
            head = _mapping_head(model, device)
        else:
            raise TypeError(f"{model.method} models do not run on a shared backbone")
    own = [t for t in vars(head).values() if isinstance(t, torch.Tensor)]
    if program is not None:
        own.append(program.pattern)
        if program.masks is not None:
            own.extend([*program.masks.parameters(), *program.masks.buffers()])
    backbone_input = program.canvas_size if program is not None else model.input_size
    return ServedModel(
        model_id=model_id,
        labels=list(model.labels),
        input_size=model.input_size,
        channels=channels,
        group=("backbone", key, str(backbone_input)),
        nbytes=tensor_bytes(own),
        head=head,
        program=program,
        backbone=backbone,
        backbone_key=key,
    )


def _program(model: ProgramModel, device: torch.device) -> Program:
    """A program's parts, computed once: its pattern, operation, mask CNN and input scale."""
    scale, shift = _COEFFICIENTS[model.program.operation]
    masks = model.program.masks
    image_scale = model.program.image_scale()
    return Program(
        pattern=model.program.program().detach()[0].to(device),
        scale=scale,
        shift=shift,
        image_size=model.program.image_size,
        canvas_size=model.program.canvas_size,
        masks=_frozen_copy(masks, device) if masks is not None else None,
        image_scale=image_scale.detach().to(device) if image_scale is not None else None,
    )


def _frozen_copy(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    return copy.deepcopy(module).to(device).eval().requires_grad_(False)


def _mapping_head(model: ProgramModel, device: torch.device) -> LinearHead | IndexHead:
    """A program's label mapping as a head over the source logits."""
    mapping = model.mapping
    if isinstance(mapping, IndexMapping):
        return IndexHead(mapping.index.detach().to(device))
    if isinstance(mapping, BayesianMapping):  # source @ ω: a linear head with weight ωᵀ
        omega = mapping.omega.detach().to(device)
        return LinearHead(omega.T.contiguous(), omega.new_zeros(omega.shape[1]), over="source")
    linear = mapping.linear
    return LinearHead(
        linear.weight.detach().to(device), linear.bias.detach().to(device), over="source"
    )


def own_parts(predictor: Predictor, *, model_id: str) -> ServedModel:
    """A served model that owns all its weights and runs alone."""
    return ServedModel(
        model_id=model_id,
        labels=predictor.labels,
        input_size=predictor.input_size,
        channels=predictor.channels,
        group=("model", model_id),
        nbytes=module_bytes(predictor.model),
        predictor=predictor,
    )
