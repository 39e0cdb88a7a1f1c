"""Device and precision choices, and seeding."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from functools import cache
from typing import TypeVar

import numpy as np
import torch


def pick_device(preference: str = "auto") -> torch.device:
    """'cuda' when asked for or available, else 'cpu'."""
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was asked for but no CUDA device is visible")
        # Fixed input shapes: let cuDNN pick the fastest kernels; TF32 for any fp32 matmuls.
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        return torch.device("cuda")
    return torch.device("cpu")


@cache
def cpu_has_fast_bf16() -> bool:
    """Whether this CPU runs bf16 matmuls natively (AVX-512 BF16 / AMX), where bf16 pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def use_bf16(precision: str, device: torch.device, *, training_weights: bool) -> bool:
    """Whether to autocast to bf16: always on CUDA under 'auto'; on CPU only for frozen weights."""
    if precision == "fp32":
        return False
    if precision == "bf16":
        return True
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return not training_weights and cpu_has_fast_bf16()


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on the device when enabled, else a no-op."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def place_data(tensor: torch.Tensor, device: torch.device, *, budget: float = 0.25) -> torch.Tensor:
    """Move a whole dataset tensor onto an accelerator when it fits in `budget` of free memory.

    uint8 images are small (60k MNIST images are 47 MB), so they usually fit, and every batch
    then skips the host-to-device copy.
    """
    if device.type != "cuda":
        return tensor
    free, _ = torch.cuda.mem_get_info(device)
    if tensor.numel() * tensor.element_size() > budget * free:
        return tensor.pin_memory()
    return tensor.to(device)


ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


def to_device(module: ModuleT, device: torch.device) -> ModuleT:
    """The module on `device`, its 4-D weights in channels-last layout (faster convolutions)."""
    # Module.to takes memory_format at run time; torch's type stubs leave it out.
    return module.to(device=device, memory_format=torch.channels_last)  # type: ignore[call-overload]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def inference(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode and no autograd, restoring the training mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)
