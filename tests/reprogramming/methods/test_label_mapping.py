import pytest
import torch

from reprogramming.methods.label_mapping import (
    IndexMapping,
    LearnedMapping,
    first_k,
    greedy_one_to_one,
    random_subset,
)


def test_first_k_reads_the_first_source_logits() -> None:
    mapping = IndexMapping(first_k(1000, 3), "first_k")
    logits = torch.arange(2000.0).view(2, 1000)
    assert mapping(logits).tolist() == [[0.0, 1.0, 2.0], [1000.0, 1001.0, 1002.0]]


def test_random_subset_is_seeded_and_distinct() -> None:
    a, b = random_subset(1000, 10, seed=1), random_subset(1000, 10, seed=1)
    assert torch.equal(a, b) and len(set(a.tolist())) == 10
    assert not torch.equal(a, random_subset(1000, 10, seed=2))


def test_greedy_assignment_prefers_the_largest_counts_one_to_one() -> None:
    counts = torch.tensor(
        [
            [9.0, 8.0, 0.0, 0.0],  # target 0 likes source 0 most...
            [10.0, 1.0, 0.0, 0.0],  # ...but target 1 likes it more, so target 0 gets source 1
            [0.0, 0.0, 0.0, 3.0],
        ]
    )
    assert greedy_one_to_one(counts).tolist() == [1, 0, 3]


def test_one_to_one_needs_enough_source_labels() -> None:
    with pytest.raises(ValueError, match="learned"):
        first_k(10, 20)


def test_learned_mapping_trains() -> None:
    mapping = LearnedMapping(1000, 5)
    out = mapping(torch.randn(4, 1000))
    out.sum().backward()
    assert out.shape == (4, 5) and mapping.linear.weight.grad is not None
