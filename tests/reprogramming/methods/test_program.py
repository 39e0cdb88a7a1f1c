import pytest
import torch

from reprogramming.methods.program import AdversarialProgram


def test_border_program_leaves_the_image_untouched() -> None:
    program = AdversarialProgram(canvas_size=16, image_size=8, region="border", operation="add")
    with torch.no_grad():
        program.weight.fill_(5.0)
    x = torch.rand(2, 3, 8, 8)
    out = program(x)
    assert out.shape == (2, 3, 16, 16)
    assert torch.allclose(out[:, :, 4:12, 4:12], x, atol=1e-6)
    assert torch.allclose(
        out[:, :, 0, 0], torch.full((2, 3), (1 + torch.tanh(torch.tensor(5.0))) / 2)
    )


def test_full_region_trains_every_pixel_and_gradients_reach_w() -> None:
    program = AdversarialProgram(canvas_size=8, image_size=8, region="full", operation="add")
    program(torch.rand(1, 3, 8, 8)).sum().backward()
    assert program.weight.grad is not None and bool((program.weight.grad != 0).all())


@pytest.mark.parametrize(("operation", "expected"), [("add", 0.75), ("subtract", 0.25)])
def test_operations(operation: str, expected: float) -> None:
    program = AdversarialProgram(canvas_size=4, image_size=4, region="full", operation=operation)
    with torch.no_grad():
        program.weight.fill_(float(torch.atanh(torch.tensor(0.5))))
    out = program(torch.full((1, 3, 4, 4), 0.5))  # 0.5 is 0 in [-1, 1]; P = 0.5
    assert torch.allclose(out, torch.full_like(out, expected), atol=1e-5)


def test_multiply_scales_the_image() -> None:
    program = AdversarialProgram(canvas_size=4, image_size=4, region="full", operation="multiply")
    with torch.no_grad():
        program.weight.fill_(float(torch.atanh(torch.tensor(-0.5))))
    out = program(torch.ones(1, 3, 4, 4))  # 1 is 1 in [-1, 1]; 1 · (1 - 0.5) = 0.5 → 0.75
    assert torch.allclose(out, torch.full_like(out, 0.75), atol=1e-5)


def test_l2_counts_only_the_trained_region() -> None:
    program = AdversarialProgram(canvas_size=4, image_size=2, region="border", operation="add")
    with torch.no_grad():
        program.weight.fill_(1.0)
    assert float(program.l2().detach()) == pytest.approx(3 * (16 - 4))
