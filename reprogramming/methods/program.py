"""The adversarial program of Elsayed et al.: x_adv = canvas(x) ∘ tanh(W ⊙ M), and two input
prompts that refine it: sample-specific masks (SMM) and a learned input scale (AutoVP)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from reprogramming.spec import InputScaling, Operation, Prompt, Region

# A learned input scale stays within [MIN_SCALE, 1) of the canvas: below a quarter, the image
# would be a few pixels of a small canvas.
MIN_SCALE = 0.25
# The scale a learned input scaling starts from when the spec gives neither image_size nor scale.
DEFAULT_LEARNED_SCALE = 0.75


def scaled_placement(canvas: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Canvas-sized images in [-1, 1] shrunk by `scale` about the centre, 0 (mid-grey) around.

    A bilinear resampling through an affine grid, so the result is differentiable in `scale`
    (AutoVP's learnable input scaling). The server applies the same function.
    """
    n, channels, height, width = canvas.shape
    inverse = (1.0 / scale).to(canvas.dtype).reshape(())
    zero = inverse.new_zeros(())
    theta = torch.stack(
        [torch.stack([inverse, zero, zero]), torch.stack([zero, inverse, zero])]
    ).expand(n, 2, 3)
    grid = F.affine_grid(theta, [n, channels, height, width], align_corners=False)
    return F.grid_sample(canvas, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def coverage(canvas_size: int, scale: torch.Tensor) -> torch.Tensor:
    """1 × 1 × n × n: how much of each canvas pixel a placed image of `scale` covers (soft at its
    edge, so a border prompt around it moves with the scale and passes gradients to it)."""
    ones = scale.new_ones(1, 1, canvas_size, canvas_size)
    return scaled_placement(ones, scale)


class MaskGenerator(nn.Module):
    """SMM's mask generator (Cai, Ye, Feng, Qi and Liu, "Sample-specific Masks for Visual
    Reprogramming-based Prompting", ICML 2024): a lightweight CNN from the placed image to a
    3-channel mask at 1/2^pools of the canvas, patch-wise interpolated back up (each mask value
    covers a 2^pools square of pixels).

    Three 3×3 convolutions with ReLU and 2×2 max-pooling (8, 16, 32 channels) and a 3×3
    convolution to the 3 mask channels: about 7,000 weights. The mask is 2·sigmoid(·), in
    (0, 2); the last convolution starts at zero, so training starts from the shared program
    (mask 1 everywhere) and learns where each image needs more or less of it.
    """

    def __init__(self, *, pools: int = 3, widths: tuple[int, ...] = (8, 16, 32)) -> None:
        super().__init__()
        if len(widths) != pools:
            raise ValueError("one width per pooling layer")
        layers: list[nn.Module] = []
        channels = 3
        for width in widths:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width
        out = nn.Conv2d(channels, 3, 3, padding=1)
        nn.init.zeros_(out.weight)
        if out.bias is not None:
            nn.init.zeros_(out.bias)
        layers.append(out)
        self.net = nn.Sequential(*layers)
        self.patch = 2**pools

    def forward(self, canvas: torch.Tensor) -> torch.Tensor:
        """[-1, 1] canvases (N × 3 × n × n) → their masks (N × 3 × n × n), in (0, 2)."""
        size = canvas.shape[-2:]
        low = self.net(canvas)
        # Patch-wise interpolation: nearest-neighbour up-sampling repeats each low-resolution
        # value over its patch (exactly 2^pools pixels a side when the canvas divides).
        return 2.0 * torch.sigmoid(F.interpolate(low, size=size, mode="nearest"))


class AdversarialProgram(nn.Module):
    """Places a k×k image at the centre of an n×n canvas and applies a learned program to it.

    Works in [-1, 1] pixel space as in the paper (the empty canvas is 0, mid-grey) and returns
    [0, 1] images for the backbone. `region='border'` trains only the pixels outside the placed
    image (M = 0 inside); `'full'` trains every pixel. `operation` says how the program meets the
    canvas: add (x + P), subtract (x - P) or multiply (x ⊙ (1 + P)).

    `prompt='smm'` multiplies P, per image, by a mask from `MaskGenerator` (SMM).
    `input_scaling='learned'` takes canvas-sized images and shrinks them by a trained scale s
    in [MIN_SCALE, 1) (`image_size` / canvas to start with): AutoVP's input scaling (Tsao, Chen,
    Lin, Chen and Chen, "AutoVP: An Automated Visual Prompting Framework and Benchmark", ICLR
    2024). With `region='border'` the program is then the padding around the image wherever the
    scale has put its edge (M is 1 everywhere, times 1 - the image's coverage).
    """

    mask: torch.Tensor

    def __init__(
        self,
        *,
        canvas_size: int,
        image_size: int,
        region: Region,
        operation: Operation,
        prompt: Prompt = "shared",
        input_scaling: InputScaling = "fixed",
    ) -> None:
        super().__init__()
        if image_size > canvas_size:
            raise ValueError(f"image_size {image_size} exceeds canvas_size {canvas_size}")
        self.canvas_size = canvas_size
        self.image_size = image_size
        self.region = region
        self.operation = operation
        self.prompt = prompt
        self.input_scaling = input_scaling
        self.weight = nn.Parameter(torch.zeros(1, 3, canvas_size, canvas_size))
        mask = torch.ones(1, 1, canvas_size, canvas_size)
        if region == "border" and input_scaling == "fixed":
            start = (canvas_size - image_size) // 2
            mask[..., start : start + image_size, start : start + image_size] = 0
        self.register_buffer("mask", mask)
        self.masks: MaskGenerator | None = MaskGenerator() if prompt == "smm" else None
        scale_logit = None
        if input_scaling == "learned":
            initial = min(max(image_size / canvas_size, MIN_SCALE + 0.01), 0.99)
            fraction = (initial - MIN_SCALE) / (1.0 - MIN_SCALE)
            scale_logit = nn.Parameter(torch.tensor(math.log(fraction / (1.0 - fraction))))
        self.scale_logit: nn.Parameter | None = scale_logit

    @property
    def input_size(self) -> int:
        """The side of the images the program takes: the canvas when it scales them itself."""
        return self.canvas_size if self.scale_logit is not None else self.image_size

    def image_scale(self) -> torch.Tensor | None:
        """The learned scale of the image inside the canvas (None when it is fixed)."""
        if self.scale_logit is None:
            return None
        return MIN_SCALE + (1.0 - MIN_SCALE) * torch.sigmoid(self.scale_logit)

    def place(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] images → [-1, 1] n×n canvases with the image at the centre."""
        x = x * 2.0 - 1.0
        scale = self.image_scale()
        if scale is not None:
            return scaled_placement(x, scale)
        pad = self.canvas_size - self.image_size
        if pad == 0:
            return x
        before = pad // 2
        return F.pad(x, (before, pad - before, before, pad - before))

    def program(self) -> torch.Tensor:
        """The shared program P = tanh(W ⊙ M), in (-1, 1) (1 × 3 × n × n)."""
        pattern = torch.tanh(self.weight * self.mask)
        scale = self.image_scale()
        if scale is not None and self.region == "border":
            pattern = pattern * (1.0 - coverage(self.canvas_size, scale))
        return pattern

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        canvas = self.place(x)
        program = self.program().to(canvas.dtype)
        if self.masks is not None:
            program = program * self.masks(canvas).to(canvas.dtype)
        if self.operation == "add":
            adv = canvas + program
        elif self.operation == "subtract":
            adv = canvas - program
        else:
            adv = canvas * (1.0 + program)
        return ((adv.clamp(-1.0, 1.0) + 1.0) * 0.5).contiguous(memory_format=torch.channels_last)

    def l2(self) -> torch.Tensor:
        """‖W‖² over the trained region, for the λ‖W‖² penalty."""
        return (self.weight * self.mask).pow(2).sum()
