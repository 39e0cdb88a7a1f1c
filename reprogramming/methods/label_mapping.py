"""Maps from the backbone's source labels to the new task's labels."""

from __future__ import annotations

import torch
from torch import nn

from reprogramming.spec import LabelMappingKind


class IndexMapping(nn.Module):
    """A one-to-one mapping: new label i reads the logit of source label `index[i]`.

    first_k, random, frequency (BAR) and iterative (ILM-VP) all use it; they differ only in how
    `index` is chosen and when it is re-chosen.
    """

    index: torch.Tensor

    def __init__(self, index: torch.Tensor, kind: LabelMappingKind) -> None:
        super().__init__()
        self.kind = kind
        self.register_buffer("index", index.to(torch.int64))

    def forward(self, source_logits: torch.Tensor) -> torch.Tensor:
        return source_logits.index_select(1, self.index)


class LearnedMapping(nn.Module):
    """A trainable dense layer from all source logits to the new labels."""

    kind: LabelMappingKind = "learned"

    def __init__(self, num_source: int, num_target: int) -> None:
        super().__init__()
        self.linear = nn.Linear(num_source, num_target)

    def forward(self, source_logits: torch.Tensor) -> torch.Tensor:
        return self.linear(source_logits)


def first_k(num_source: int, num_target: int) -> torch.Tensor:
    """Elsayed et al.'s hard-coded mapping: new label i ↦ source label i."""
    _check(num_source, num_target)
    return torch.arange(num_target)


def random_subset(num_source: int, num_target: int, *, seed: int) -> torch.Tensor:
    """A seeded random choice of distinct source labels."""
    _check(num_source, num_target)
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(num_source, generator=generator)[:num_target]


def greedy_one_to_one(counts: torch.Tensor) -> torch.Tensor:
    """From a (target × source) co-occurrence matrix, pick the largest free pair until all match.

    This is the frequency-based assignment of BAR (Tsai et al. 2020) and ILM-VP (Chen et al. 2023).
    """
    num_target, num_source = counts.shape
    _check(num_source, num_target)
    work = counts.double().clone()
    index = torch.full((num_target,), -1, dtype=torch.int64)
    for _ in range(num_target):
        flat = int(torch.argmax(work))
        target, source = divmod(flat, num_source)
        index[target] = source
        work[target, :] = -1.0
        work[:, source] = -1.0
    return index


def _check(num_source: int, num_target: int) -> None:
    if num_target > num_source:
        raise ValueError(
            f"a one-to-one label mapping needs at least {num_target} source labels, "
            f"the backbone has {num_source}; use label_mapping 'learned'"
        )
