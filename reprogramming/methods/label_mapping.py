"""Maps from the backbone's source labels to the new task's labels."""

from __future__ import annotations

import math

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


class BayesianMapping(nn.Module):
    """BLM / BLM+ (Cai, Ye, Feng, Qi and Liu, "Bayesian-guided Label Mapping for Visual
    Reprogramming", NeurIPS 2024): a probabilistic many-to-many label mapping.

    ω is a (source labels × target labels) matrix; the target logits are the backbone's source
    logits times ω, so each new label reads a weighted mix of every source logit. ω is not
    trained by gradients: before each epoch it is re-estimated (`bayesian_omega`) from the joint
    distribution of the backbone's predictions on the current reprogrammed training images and
    their true labels. BLM counts each image's top-1 predicted source label; BLM+ spreads each
    image over its top-K predicted source probabilities.
    """

    omega: torch.Tensor

    def __init__(self, num_source: int, num_target: int, kind: LabelMappingKind) -> None:
        super().__init__()
        self.kind = kind
        # Until the first estimate: new label j reads source label j (mod the source labels),
        # i.e. first_k as a matrix whose columns already sum to one.
        start = torch.zeros(num_source, num_target)
        start[torch.arange(num_target) % num_source, torch.arange(num_target)] = 1.0
        self.register_buffer("omega", start)

    def forward(self, source_logits: torch.Tensor) -> torch.Tensor:
        return source_logits @ self.omega.to(source_logits.dtype)


def predicted_weights(source_logits: torch.Tensor, *, top_k: int | None) -> torch.Tensor:
    """Each image's weight on each source label, for estimating the joint distribution.

    `top_k` None (BLM): 1 on the image's predicted (top-1) source label, 0 elsewhere.
    `top_k` K (BLM+): the image's softmax probabilities on its K most likely source labels,
    0 elsewhere (Cai et al. 2024, BLM+).
    """
    logits = source_logits.float()
    weights = torch.zeros_like(logits)
    if top_k is None:
        return weights.scatter_(1, logits.argmax(1, keepdim=True), 1.0)
    k = max(1, min(top_k, logits.shape[1]))
    probs, index = logits.softmax(1).topk(k, dim=1)
    return weights.scatter_(1, index, probs)


def blm_plus_top_k(ratio: float, num_target: int) -> int:
    """BLM+'s K: ⌊ρ · new labels⌋, at least one.

    K scales with the new task's labels, not the backbone's, as in the authors' released code
    (tmlr-group/BayesianLM: k = int(len(class_names) * topk_ratio), topk_ratio 0.15).
    """
    return max(1, math.floor(ratio * num_target))


def joint_counts(weights: torch.Tensor, labels: torch.Tensor, num_target: int) -> torch.Tensor:
    """Σ_i weights[i, s] · 1{labels[i] = t}: the (source × target) joint frequency table."""
    joint = weights.new_zeros(num_target, weights.shape[1])
    joint.index_add_(0, labels.to(weights.device), weights)
    return joint.T


def bayesian_omega(joint: torch.Tensor, *, laplace: float) -> torch.Tensor:
    """ω from a (source × target) joint frequency table, by Cai et al. 2024's estimate.

    ω[s, t] = P(Yᵀ = t | Yˢ = s) by Bayes' rule, each estimated by frequency, with Laplace
    smoothing λ on the source label's marginal (so a source label never predicted gets 0, not
    0/0):  ω[s, t] = joint[s, t] / (Σ_t' joint[s, t'] + λ).  Each column is then normalised to
    sum to one over the source labels, so every new label reads a convex combination of source
    logits whatever its own frequency. A column with no mass (a label with no images) is
    uniform.
    """
    joint = joint.double()
    omega = joint / (joint.sum(1, keepdim=True) + laplace)
    totals = omega.sum(0, keepdim=True)
    uniform = torch.full_like(omega, 1.0 / omega.shape[0])
    omega = torch.where(totals > 0, omega / totals.clamp_min(1e-300), uniform)
    return omega.float()


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
