"""One forward pass for a batch of requests to many models on one shared backbone.

Rows keep their own model throughout, with no Python loop over rows or models:

1. images → [0, 1] canvases (one conversion per distinct input shape; a program's smaller
   image is padded with mid-grey, as `AdversarialProgram.place` does);
2. each program row gets its own model's program, gathered from a stacked tensor (rows of a
   model with a learned input scale are first shrunk by it; rows of an SMM model have the
   pattern multiplied by their own masks, from that model's mask CNN: one call per such model);
3. one backbone forward for every row;
4. heads as grouped operations: the batch's linear heads concatenated into one matrix (one
   matmul, each row then reads its own model's columns), one-to-one label maps as one gather;
5. a softmax over each row's own labels (padding columns are -inf).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from reprogramming.backbones.base import Backbone
from reprogramming.images import to_model_input
from reprogramming.methods.program import scaled_placement
from reprogramming.runtime import autocast
from reprogramming.serving.units import IndexHead, LinearHead, ServedModel

Request = tuple[ServedModel, torch.Tensor]  # a model and a uint8 NCHW batch at its input size


@torch.inference_mode()
def shared_probabilities(
    requests: Sequence[Request], *, device: torch.device, bf16: bool
) -> list[torch.Tensor]:
    """Class probabilities of each request (its images × its model's labels), in order."""
    backbone = _one_backbone(requests)
    canvas = requests[0][0].backbone_input
    # Rows are laid out grouped by input shape (one conversion each), then put back in order.
    order = sorted(range(len(requests)), key=lambda i: tuple(requests[i][1].shape[1:]))
    parts = []
    for shape, members in itertools.groupby(order, key=lambda i: tuple(requests[i][1].shape[1:])):
        images = torch.cat([requests[i][1] for i in members]).to(device, non_blocking=True)
        parts.append(_to_canvas(images, size=shape[-1], canvas=canvas))
    x = torch.cat(parts)
    models = [requests[i][0] for i in order]
    counts = torch.tensor([len(requests[i][1]) for i in order])
    distinct = list({id(m): m for m in models}.values())
    slot = {id(m): i for i, m in enumerate(distinct)}
    # Each row's model, as an index into `distinct`: what every per-row gather below reads.
    row_model = torch.repeat_interleave(torch.tensor([slot[id(m)] for m in models]), counts)
    row_model = row_model.to(device)

    x = _apply_programs(x, distinct, row_model)
    with autocast(device, bf16):
        features = backbone.features(x.contiguous(memory_format=torch.channels_last))
        logits = _heads(backbone, features, distinct, row_model)
    probs = logits.float().softmax(1).cpu()

    result: list[torch.Tensor | None] = [None] * len(requests)
    for i, rows in zip(order, probs.split(counts.tolist()), strict=True):
        result[i] = rows[:, : len(requests[i][0].labels)]
    return result  # type: ignore[return-value]


def _one_backbone(requests: Sequence[Request]) -> Backbone:
    backbones = {id(m.backbone) for m, _ in requests}
    canvases = {m.backbone_input for m, _ in requests}
    first = requests[0][0].backbone
    if first is None or len(backbones) != 1 or len(canvases) != 1:
        raise ValueError("a shared batch needs one backbone and one backbone input size")
    return first


def _to_canvas(images: torch.Tensor, *, size: int, canvas: int) -> torch.Tensor:
    """uint8 images at `size` → float RGB in [0, 1], centred on a mid-grey canvas."""
    x = to_model_input(images, size).contiguous()
    pad = canvas - size
    if pad == 0:
        return x
    before = pad // 2
    return F.pad(x, (before, pad - before, before, pad - before), value=0.5)


def _apply_programs(
    x: torch.Tensor, models: list[ServedModel], row_model: torch.Tensor
) -> torch.Tensor:
    """Each program row through its own model's program (others untouched)."""
    members = [i for i, m in enumerate(models) if m.program is not None]
    if not members:
        return x
    programs = [p for p in (models[i].program for i in members) if p is not None]
    patterns = torch.stack([p.pattern for p in programs])
    coefficients = torch.tensor([[p.scale, p.shift] for p in programs], device=x.device)
    rows, slots = _rows_of(members, len(models), row_model)
    pattern = patterns[slots].to(x.dtype)
    scale = coefficients[slots, 0].view(-1, 1, 1, 1)
    shift = coefficients[slots, 1].view(-1, 1, 1, 1)
    canvas = x[rows] * 2.0 - 1.0
    for slot, program in enumerate(programs):  # once per model that needs it, not per row
        if program.image_scale is None and program.masks is None:
            continue
        own = (slots == slot).nonzero().squeeze(1)
        if program.image_scale is not None:
            canvas[own] = scaled_placement(canvas[own], program.image_scale)
        if program.masks is not None:
            pattern[own] = pattern[own] * program.masks(canvas[own]).to(x.dtype)
    adv = canvas * (1.0 + scale * pattern) + shift * pattern
    x = x.clone()
    x[rows] = (adv.clamp(-1.0, 1.0) + 1.0) * 0.5
    return x


def _heads(
    backbone: Backbone,
    features: torch.Tensor,
    models: list[ServedModel],
    row_model: torch.Tensor,
) -> torch.Tensor:
    """Each row's logits over its own model's labels, padded with -inf to the widest model."""
    width = max(len(m.labels) for m in models)
    logits = torch.full(
        (len(features), width), float("-inf"), device=features.device, dtype=torch.float32
    )
    heads = [m.head for m in models]
    over_source = torch.tensor([h is not None and h.over == "source" for h in heads])
    source_rows = over_source.to(features.device)[row_model].nonzero().squeeze(1)
    source = None
    if len(source_rows):  # the backbone's own logits, only for the rows whose heads read them
        computed = backbone.head(features[source_rows]).float()
        source = computed.new_zeros((len(features), computed.shape[1]))
        source[source_rows] = computed
    for kind, over in ((LinearHead, "features"), (LinearHead, "source"), (IndexHead, "source")):
        members = [i for i, h in enumerate(heads) if isinstance(h, kind) and h.over == over]
        if not members:
            continue
        rows, row_local = _rows_of(members, len(models), row_model)
        if over == "features":
            inputs = features[rows]
        else:
            assert source is not None
            inputs = source[rows]
        chosen = [heads[i] for i in members]
        if kind is LinearHead:
            out = _grouped_linear(inputs, chosen, row_local, width)  # type: ignore[arg-type]
        else:
            out = _grouped_index(inputs, chosen, row_local, width)  # type: ignore[arg-type]
        logits[rows] = out.float()
    return logits


def _rows_of(
    members: list[int], count: int, row_model: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows whose model is one of `members` (indices among `count` models), and for each
    such row its model's place in `members`."""
    place = torch.full((count,), -1, dtype=torch.long)
    place[members] = torch.arange(len(members))
    row_place = place.to(row_model.device)[row_model]
    rows = (row_place >= 0).nonzero().squeeze(1)
    return rows, row_place[rows]


def _segments(lengths: list[int], row_head: torch.Tensor, width: int) -> tuple[torch.Tensor, ...]:
    """Per row: the columns [offset, offset + width) of its head, and which of them are real."""
    device = row_head.device
    size = torch.tensor(lengths, device=device)
    offset = torch.cumsum(size, 0) - size
    span = torch.arange(width, device=device)
    columns = offset[row_head].unsqueeze(1) + span
    valid = span < size[row_head].unsqueeze(1)
    return columns.clamp(max=int(size.sum()) - 1), valid


def _grouped_linear(
    inputs: torch.Tensor, heads: list[LinearHead], row_head: torch.Tensor, width: int
) -> torch.Tensor:
    """Every row through its own linear head: one matmul over the heads side by side."""
    weight = torch.cat([h.weight for h in heads])
    bias = torch.cat([h.bias for h in heads])
    every = F.linear(inputs.to(weight.dtype), weight, bias)
    columns, valid = _segments([len(h.bias) for h in heads], row_head, width)
    return every.gather(1, columns).masked_fill(~valid, float("-inf"))


def _grouped_index(
    source: torch.Tensor, heads: list[IndexHead], row_head: torch.Tensor, width: int
) -> torch.Tensor:
    """Every row's source logits read at its own model's label indices: one gather."""
    index = torch.zeros((len(heads), width), dtype=torch.long, device=source.device)
    for j, head in enumerate(heads):  # once per model in the batch, not per row
        index[j, : len(head.index)] = head.index
    lengths = [len(h.index) for h in heads]
    _, valid = _segments(lengths, row_head, width)
    return source.gather(1, index[row_head]).masked_fill(~valid, float("-inf"))


@torch.inference_mode()
def own_probabilities(requests: Sequence[Request]) -> list[torch.Tensor]:
    """Probabilities for requests to one model that owns its weights (one batched forward)."""
    predictor = requests[0][0].predictor
    assert predictor is not None and all(m is requests[0][0] for m, _ in requests)
    probs = predictor.probabilities(torch.cat([images for _, images in requests]))
    return list(probs.split([len(images) for _, images in requests]))
