import pytest
import torch

from reprogramming.methods.label_mapping import (
    BayesianMapping,
    IndexMapping,
    LearnedMapping,
    bayesian_omega,
    blm_plus_top_k,
    first_k,
    greedy_one_to_one,
    joint_counts,
    predicted_weights,
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


def test_bayesian_omega_is_the_smoothed_conditional_normalised_by_column() -> None:
    # joint[s, t]: how often images of new label t were predicted as source label s.
    joint = torch.tensor([[3.0, 1.0], [0.0, 2.0], [0.0, 0.0]])
    omega = bayesian_omega(joint, laplace=1.0)
    # P(t | s) with λ = 1 added to each source label's count: row 0 → 3/5, 1/5; row 1 → 0, 2/3.
    conditional = torch.tensor([[3 / 5, 1 / 5], [0.0, 2 / 3], [0.0, 0.0]])
    assert torch.allclose(omega, conditional / conditional.sum(0), atol=1e-6)
    assert torch.allclose(omega.sum(0), torch.ones(2), atol=1e-6)  # each new label: a distribution
    assert bool((omega >= 0).all()) and omega[2].abs().max() == 0  # never predicted: no weight
    # A larger λ shrinks the rarely predicted source labels most (Laplace smoothing).
    smoothed = bayesian_omega(joint, laplace=10.0)
    assert smoothed[1, 1] < omega[1, 1]


def test_a_label_with_no_images_reads_every_source_label_equally() -> None:
    omega = bayesian_omega(torch.tensor([[2.0, 0.0], [1.0, 0.0]]), laplace=1.0)
    assert torch.allclose(omega[:, 1], torch.full((2,), 0.5))


def test_predicted_weights_top1_and_top_k() -> None:
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]])
    assert predicted_weights(logits, top_k=None).tolist() == [[0.0, 1.0, 0.0, 0.0]]
    top2 = predicted_weights(logits, top_k=2)
    probs = logits.softmax(1)
    assert torch.allclose(top2, torch.tensor([[0.0, probs[0, 1], 0.0, probs[0, 3]]]))
    joint = joint_counts(top2.repeat(2, 1), torch.tensor([1, 1]), num_target=3)
    assert joint.shape == (4, 3) and torch.allclose(joint[:, 1], 2 * top2[0])
    assert joint[:, 0].abs().max() == 0 and joint[:, 2].abs().max() == 0


def test_blm_plus_k_scales_with_the_new_labels() -> None:
    # The authors' setting: ρ = 0.15 of the downstream labels, at least one.
    assert [blm_plus_top_k(0.15, n) for n in (2, 10, 100, 397)] == [1, 1, 15, 59]
    assert blm_plus_top_k(1.0, 10) == 10


def test_bayesian_mapping_multiplies_source_logits_by_omega() -> None:
    mapping = BayesianMapping(5, 3, "blm")
    assert torch.allclose(mapping.omega.sum(0), torch.ones(3))  # a valid ω before any estimate
    logits = torch.randn(4, 5)
    assert torch.allclose(mapping(logits), logits[:, :3])  # first_k until re-estimated
    mapping.omega.copy_(torch.rand(5, 3))
    assert torch.allclose(mapping(logits), logits @ mapping.omega)
    assert "omega" in mapping.state_dict()  # saved with the model's learned state
