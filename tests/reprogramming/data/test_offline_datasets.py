"""The built-in datasets that packages ship: animal_mnist, lfw_subset and opencv_digits."""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from PIL import Image

from reprogramming.data import list_datasets, load_dataset, load_source
from reprogramming.data.base import ImageSet, Splits
from reprogramming.data.builtin import (
    animal_mnist_available,
    load_opencv_digits,
    opencv_digits_available,
)
from reprogramming.errors import UnavailableError
from reprogramming.spec import DatasetSpec


@dataclass(frozen=True)
class Expected:
    name: str
    classes: list[str]
    side: int
    total: int
    # A nearest-class-mean classifier on raw pixels (measured: 0.54-0.58 animal_mnist,
    # 0.85-0.88 lfw_subset, 0.78-0.80 opencv_digits over three seeds): labels match images.
    centroid_accuracy: float


DIGITS = [str(d) for d in range(10)]
ANIMALS = ["bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra"]
EXPECTED = [
    pytest.param(
        Expected("animal_mnist", ANIMALS, 28, 10_000, 0.4),
        marks=pytest.mark.skipif(
            not animal_mnist_available(), reason="PyPI animal-mnist (scripts/setup installs it)"
        ),
        id="animal_mnist",
    ),
    pytest.param(Expected("lfw_subset", ["face", "non-face"], 25, 200, 0.7), id="lfw_subset"),
    pytest.param(
        Expected("opencv_digits", DIGITS, 20, 5_000, 0.65),
        marks=pytest.mark.skipif(
            not opencv_digits_available(), reason="Debian's opencv-doc (scripts/setup installs it)"
        ),
        id="opencv_digits",
    ),
]


def _multiset(*parts: ImageSet) -> Counter[tuple[bytes, int]]:
    """Each (image, label) pair with how often it occurs, across the parts."""
    return Counter(
        (image.numpy().tobytes(), int(label))
        for part in parts
        for image, label in zip(part.images, part.labels, strict=True)
    )


def _centroid_accuracy(splits: Splits) -> float:
    train = splits.train.images.flatten(1).float()
    means = torch.stack(
        [train[splits.train.labels == c].mean(0) for c in range(len(splits.classes))]
    )
    nearest = torch.cdist(splits.test.images.flatten(1).float(), means).argmin(1)
    return float((nearest == splits.test.labels).float().mean())


@pytest.mark.parametrize("expected", EXPECTED)
def test_packaged_dataset_loads_with_its_classes_and_shapes(
    expected: Expected, data_dir: Path
) -> None:
    source, _ = load_source(DatasetSpec(name=expected.name), data_dir=data_dir)
    data = source.train
    assert source.test is None  # no official test split: the engine holds one out
    assert data.classes == expected.classes
    assert data.images.dtype == torch.uint8
    assert data.images.shape == (expected.total, 1, expected.side, expected.side)
    # balanced classes, real pixels (not blank)
    per_class = expected.total // len(expected.classes)
    assert torch.bincount(data.labels).tolist() == [per_class] * len(expected.classes)
    assert data.images.float().std() > 30


@pytest.mark.parametrize("expected", EXPECTED)
def test_packaged_dataset_splits_are_seeded_stratified_and_disjoint(
    expected: Expected, data_dir: Path
) -> None:
    spec = DatasetSpec(name=expected.name, seed=7)
    a, b = load_dataset(spec, data_dir=data_dir), load_dataset(spec, data_dir=data_dir)
    for part_a, part_b in ((a.train, b.train), (a.val, b.val), (a.test, b.test)):
        assert torch.equal(part_a.images, part_b.images)
        assert torch.equal(part_a.labels, part_b.labels)
    other = load_dataset(DatasetSpec(name=expected.name, seed=8), data_dir=data_dir)
    assert not torch.equal(a.test.images, other.test.images)
    # The three splits partition the dataset: together exactly its images, none twice.
    source, _ = load_source(spec, data_dir=data_dir)
    assert sum(a.sizes.values()) == expected.total
    assert _multiset(a.train, a.val, a.test) == _multiset(source.train)
    # Stratified: each class holds the same share of every split.
    classes = len(expected.classes)
    for part in (a.train, a.val, a.test):
        assert (
            torch.bincount(part.labels, minlength=classes).tolist()
            == [len(part) // classes] * classes
        )
    assert _centroid_accuracy(a) > expected.centroid_accuracy


def test_the_catalog_says_where_each_comes_from() -> None:
    catalog = {d["name"]: d for d in list_datasets()}
    assert "animal-mnist" in str(catalog["animal_mnist"]["description"])
    assert "scikit-image" in str(catalog["lfw_subset"]["description"])
    assert "opencv-doc" in str(catalog["opencv_digits"]["description"])
    assert catalog["lfw_subset"]["available_offline"] is True
    assert catalog["animal_mnist"]["available_offline"] is animal_mnist_available()
    assert catalog["opencv_digits"]["available_offline"] is opencv_digits_available()


def test_opencv_digits_without_the_sheet_names_the_install_step(tmp_path: Path) -> None:
    with pytest.raises(UnavailableError, match=r"opencv-doc.*scripts/setup"):
        load_opencv_digits(tmp_path / "digits.png")
    Image.new("L", (100, 50)).save(tmp_path / "small.png")
    with pytest.raises(UnavailableError, match="not OpenCV's 2000×1000 sheet"):
        load_opencv_digits(tmp_path / "small.png")
