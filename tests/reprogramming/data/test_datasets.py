import io
import tarfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from reprogramming.data import DATASETS, list_datasets, load_dataset, load_source
from reprogramming.data.archives import ArchiveError
from reprogramming.data.builtin import fashion_mnist_available
from reprogramming.errors import ReprogramError, UnavailableError, UnknownNameError
from reprogramming.spec import DatasetSpec


def test_digits_splits_are_seeded_stratified_and_disjoint(data_dir: Path) -> None:
    spec = DatasetSpec(name="digits", seed=3)
    a, b = load_dataset(spec, data_dir=data_dir), load_dataset(spec, data_dir=data_dir)
    assert torch.equal(a.train.labels, b.train.labels)
    assert torch.equal(a.test.images, b.test.images)
    assert sum(a.sizes.values()) == 1797
    assert a.train.images.dtype == torch.uint8 and a.train.images.shape[1:] == (1, 8, 8)
    # every class is in every split, in about the same share
    for part in (a.train, a.val, a.test):
        assert set(part.labels.tolist()) == set(range(10))
    other = load_dataset(DatasetSpec(name="digits", seed=4), data_dir=data_dir)
    assert not torch.equal(a.train.labels, other.train.labels)


def test_mnist_5k_matches_the_reference_split(data_dir: Path) -> None:
    splits = load_dataset(DatasetSpec(name="mnist_5k", val_fraction=0.0), data_dir=data_dir)
    assert splits.sizes == {"train": 4000, "val": 0, "test": 1000}
    assert splits.train.images.shape[1:] == (1, 28, 28)
    assert torch.bincount(splits.test.labels).tolist() == [100] * 10


def test_max_per_class_and_class_subset(data_dir: Path) -> None:
    spec = DatasetSpec(name="mnist_5k", classes=[0, 1], max_per_class=20, test_max_per_class=5)
    splits = load_dataset(spec, data_dir=data_dir)
    assert splits.classes == ["0", "1"]
    assert torch.bincount(splits.train.labels).tolist() == [20, 20]
    assert torch.bincount(splits.test.labels).tolist() == [5, 5]
    with pytest.raises(ReprogramError, match="unknown class"):
        load_dataset(DatasetSpec(name="digits", classes=["zero", "one"]), data_dir=data_dir)


@pytest.mark.skipif(not fashion_mnist_available(), reason="Debian's dataset-fashion-mnist")
def test_fashion_mnist_uses_the_official_test_split(data_dir: Path) -> None:
    splits = load_dataset(
        DatasetSpec(name="fashion_mnist", max_per_class=10, seed=1), data_dir=data_dir
    )
    assert splits.classes[0] == "T-shirt/top" and len(splits.classes) == 10
    assert len(splits.test) == 10_000
    assert torch.bincount(splits.train.labels).tolist() == [10] * 10


def test_decoded_datasets_are_cached_on_disk(data_dir: Path) -> None:
    source, key = load_source(DatasetSpec(name="digits"), data_dir=data_dir)
    assert (data_dir / "datasets" / f"{key}.safetensors").exists()
    again, _ = load_source(DatasetSpec(name="digits"), data_dir=data_dir)
    assert again.meta["cache"] == "hit"
    assert torch.equal(source.train.images, again.train.images)


def test_unknown_dataset_lists_what_exists(data_dir: Path) -> None:
    with pytest.raises(UnknownNameError, match="mnist_5k"):
        load_dataset(DatasetSpec(name="imagenet22k"), data_dir=data_dir)


def test_torchvision_dataset_offline_is_a_clear_error(data_dir: Path) -> None:
    assert "cifar10" in DATASETS
    with pytest.raises(UnavailableError, match=r"cifar10.*could not be downloaded"):
        load_dataset(DatasetSpec(name="cifar10"), download=False, data_dir=data_dir)


def _png(color: tuple[int, int, int], size: tuple[int, int], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color if mode == "RGB" else color[0]).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_folder(root: Path) -> None:
    for name, color in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
        (root / name).mkdir(parents=True)
        for i in range(6):
            size = (40 + i * 7, 30 + i * 3)  # any size; some grayscale
            mode = "L" if i % 2 else "RGB"
            (root / name / f"{i}.png").write_bytes(_png(color, size, mode))


def test_image_folder_directory_any_size_and_mode(tmp_path: Path, data_dir: Path) -> None:
    _write_folder(tmp_path / "pets")
    splits = load_dataset(
        DatasetSpec(path=str(tmp_path / "pets"), image_size=32, seed=0), data_dir=data_dir
    )
    assert splits.classes == ["cats", "dogs"]
    assert splits.train.images.shape[1:] == (3, 32, 32)
    assert sum(splits.sizes.values()) == 12


def test_image_folder_archive(tmp_path: Path, data_dir: Path) -> None:
    _write_folder(tmp_path / "src" / "pets")
    archive = tmp_path / "pets.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "pets", arcname="pets")
    splits = load_dataset(DatasetSpec(path=str(archive), image_size=16), data_dir=data_dir)
    assert splits.classes == ["cats", "dogs"]
    # red cats, blue dogs survive decoding
    cats = splits.train.images[splits.train.labels == 0].float().mean((0, 2, 3))
    assert cats[0] > cats[2]


def test_hostile_archive_is_refused_through_the_dataset_path(
    tmp_path: Path, data_dir: Path
) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = _png((1, 2, 3), (4, 4))
        info = tarfile.TarInfo("../../etc/evil.png")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ArchiveError) as info:
        load_dataset(DatasetSpec(path=str(archive)), data_dir=data_dir)
    assert info.value.rule == "path_traversal"


def test_the_catalog_looks_for_downloads_in_the_given_data_dir(tmp_path: Path) -> None:
    here = {d["name"]: d["available_offline"] for d in list_datasets(data_dir=tmp_path)}
    assert here["digits"] and not here["cifar10"]  # packaged; needs a download into tmp_path
    assert {d["name"] for d in list_datasets()} == set(here)
