"""The adversarial program of Elsayed et al.: x_adv = canvas(x) ∘ tanh(W ⊙ M)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reprogramming.spec import Operation, Region


class AdversarialProgram(nn.Module):
    """Places a k×k image at the centre of an n×n canvas and applies a learned program to it.

    Works in [-1, 1] pixel space as in the paper (the empty canvas is 0, mid-grey) and returns
    [0, 1] images for the backbone. `region='border'` trains only the pixels outside the placed
    image (M = 0 inside); `'full'` trains every pixel. `operation` says how the program meets the
    canvas: add (x + P), subtract (x - P) or multiply (x ⊙ (1 + P)).
    """

    mask: torch.Tensor

    def __init__(
        self, *, canvas_size: int, image_size: int, region: Region, operation: Operation
    ) -> None:
        super().__init__()
        if image_size > canvas_size:
            raise ValueError(f"image_size {image_size} exceeds canvas_size {canvas_size}")
        self.canvas_size = canvas_size
        self.image_size = image_size
        self.region = region
        self.operation = operation
        self.weight = nn.Parameter(torch.zeros(1, 3, canvas_size, canvas_size))
        mask = torch.ones(1, 1, canvas_size, canvas_size)
        if region == "border":
            start = (canvas_size - image_size) // 2
            mask[..., start : start + image_size, start : start + image_size] = 0
        self.register_buffer("mask", mask)

    def place(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] k×k images → [-1, 1] n×n canvases with the image at the centre."""
        x = x * 2.0 - 1.0
        pad = self.canvas_size - self.image_size
        if pad == 0:
            return x
        before = pad // 2
        return F.pad(x, (before, pad - before, before, pad - before))

    def program(self) -> torch.Tensor:
        """P = tanh(W ⊙ M), in (-1, 1)."""
        return torch.tanh(self.weight * self.mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        canvas = self.place(x)
        program = self.program().to(canvas.dtype)
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
