import math

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


def test_smm_masks_are_per_image_three_channel_and_patch_wise() -> None:
    program = AdversarialProgram(
        canvas_size=32, image_size=32, region="full", operation="add", prompt="smm"
    )
    assert program.masks is not None and program.masks.patch == 8
    x = torch.rand(2, 3, 32, 32)
    canvas = program.place(x)
    # Untrained, the mask is 1: an SMM program starts as the shared program.
    assert torch.equal(program.masks(canvas), torch.ones(2, 3, 32, 32))
    with torch.no_grad():
        for parameter in program.masks.parameters():
            parameter.normal_(0.0, 0.1)
    masks = program.masks(canvas)
    assert masks.shape == (2, 3, 32, 32) and bool(((masks >= 0) & (masks <= 2)).all())
    # One value per 8 × 8 patch (a 4 × 4 mask interpolated up), different for each image.
    patches = masks.unfold(2, 8, 8).unfold(3, 8, 8)  # 2 × 3 × 4 × 4 × 8 × 8
    assert torch.equal(patches, patches[..., :1, :1].expand_as(patches))
    assert not torch.allclose(masks[0], masks[1])
    # The mask shapes the shared program for each image, and gradients reach the CNN.
    with torch.no_grad():
        program.weight.fill_(0.5)
    out = program(x)
    expected = ((canvas + torch.tanh(torch.tensor(0.5)) * masks).clamp(-1, 1) + 1) / 2
    assert torch.allclose(out, expected, atol=1e-6)
    out.sum().backward()
    assert all(p.grad is not None for p in program.masks.parameters())


def test_learned_input_scaling_shrinks_the_image_and_pads_around_it() -> None:
    program = AdversarialProgram(
        canvas_size=32, image_size=16, region="border", operation="add", input_scaling="learned"
    )
    assert program.input_size == 32  # it takes canvas-sized images and scales them itself
    scale = program.image_scale()
    assert scale is not None and float(scale.detach()) == pytest.approx(0.5, abs=1e-6)
    x = torch.ones(1, 3, 32, 32)  # white: 1 in [-1, 1]
    canvas = program.place(x)
    assert torch.allclose(canvas[..., 9:23, 9:23], torch.ones(1, 3, 14, 14))  # the image...
    assert canvas[..., :7, :].abs().max() == 0 and canvas[..., :, 25:].abs().max() == 0  # ...grey
    with torch.no_grad():
        program.weight.fill_(3.0)
    pattern = program.program()
    assert pattern[..., 9:23, 9:23].abs().max() < 1e-6  # the program pads around the image
    assert torch.allclose(pattern[..., :7, :], torch.full_like(pattern[..., :7, :], math.tanh(3)))
    # The scale is trained: the loss reaches it through the resampling and the padding.
    program(torch.rand(2, 3, 32, 32)).pow(2).sum().backward()
    assert program.scale_logit is not None and program.scale_logit.grad is not None
    assert float(program.scale_logit.grad) != 0.0
