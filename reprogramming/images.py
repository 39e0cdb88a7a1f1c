"""Image decoding on the host (once, to uint8) and the batch transform on the device (every step)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from reprogramming.errors import InvalidImageError, InvalidInputError

ImageLike = Image.Image | bytes | str | Path | np.ndarray | torch.Tensor

# Decoding a user's image: refuse anything bigger than this before Pillow allocates it.
MAX_IMAGE_PIXELS = 40_000_000


def open_image(image: ImageLike) -> Image.Image:
    """A PIL image from a PIL image, encoded bytes, a path, an HWC/HW array or a CHW tensor."""
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, torch.Tensor):
        array = image.detach().cpu()
        if array.ndim == 3 and array.shape[0] in (1, 3, 4):
            array = array.permute(1, 2, 0)
        image = array.numpy()
    if isinstance(image, np.ndarray):
        return _from_array(image)
    try:
        source: Any = io.BytesIO(image) if isinstance(image, bytes) else Path(image)
        pil = Image.open(source)
        if pil.width * pil.height > MAX_IMAGE_PIXELS:
            raise InvalidInputError(
                f"image is {pil.width}x{pil.height}, over the {MAX_IMAGE_PIXELS} pixel limit"
            )
        pil.load()
    except Image.DecompressionBombError as exc:
        raise InvalidInputError(f"image is over the {MAX_IMAGE_PIXELS} pixel limit: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"not a readable image: {exc}") from exc
    return ImageOps.exif_transpose(pil)


def _from_array(array: np.ndarray) -> Image.Image:
    if array.dtype != np.uint8:
        scaled = array.astype(np.float32)
        if scaled.max(initial=0.0) <= 1.0:
            scaled = scaled * 255.0
        array = np.clip(scaled, 0, 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3):
        raise InvalidInputError(f"an image array must be HW or HWC, got shape {array.shape}")
    return Image.fromarray(array)


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to `size` and crop the centre square (no distortion)."""
    if image.width == size and image.height == size:
        return image
    return ImageOps.fit(image, (size, size), method=Image.Resampling.BILINEAR)


def to_uint8(image: Image.Image, *, channels: int, size: int | None = None) -> torch.Tensor:
    """A CHW uint8 tensor with 1 (grayscale) or 3 (RGB) channels, optionally fitted to size²."""
    pil = image.convert("L" if channels == 1 else "RGB")
    if size is not None:
        pil = fit_square(pil, size)
    array = np.asarray(pil, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    # The transpose happens in NumPy: a torch copy this size would start an OpenMP team in
    # the calling thread, and in a server every decoding thread's team competes with the
    # inference thread's for the cores.
    return torch.from_numpy(array.transpose(2, 0, 1).copy(order="C"))


def decode_batch(images: Sequence[ImageLike], *, channels: int, size: int) -> torch.Tensor:
    """Images of any size and mode as one uint8 batch of `channels` × size²; an image that
    cannot be read raises InvalidImageError with its index."""
    batch = []
    for index, image in enumerate(images):
        try:
            batch.append(to_uint8(open_image(image), channels=channels, size=size).numpy())
        except InvalidInputError as exc:
            raise InvalidImageError(exc.message, index=index) from None
    # Stacked by NumPy, not torch: see `to_uint8` on keeping torch's threads to one.
    return torch.from_numpy(np.stack(batch))


def to_model_input(batch: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 NCHW (1 or 3 channels, any side) → float NCHW RGB in [0, 1] at size×size."""
    x = batch.float().div_(255.0)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    if x.shape[1] == 1:  # after resizing: grayscale costs one channel's work, not three
        x = x.expand(-1, 3, -1, -1)
    return x.contiguous(memory_format=torch.channels_last)
