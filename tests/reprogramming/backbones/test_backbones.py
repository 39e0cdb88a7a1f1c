from pathlib import Path

import pytest
import torch
from skimage import data as photos

from reprogramming.backbones import last_block_parameters, list_backbones
from reprogramming.backbones.torchvision_ import cache_path, resolve_weights
from reprogramming.errors import UnavailableError, UnknownNameError
from reprogramming.factory import build_backbone
from reprogramming.predictor import Predictor
from reprogramming.spec import BackboneSpec


@pytest.fixture(scope="module")
def lite0_predictor() -> Predictor:
    return Predictor.from_backbone({"name": "efficientnet_lite0"})


def test_lite0_names_a_real_cat_photo(lite0_predictor: Predictor) -> None:
    top = lite0_predictor.predict([photos.chelsea()], top_k=3)[0]
    assert top[0].label in {"tabby", "tiger cat", "Egyptian cat"}
    assert top[0].score > 0.2


def test_lite0_names_espresso_from_encoded_bytes(
    lite0_predictor: Predictor, tmp_path: Path
) -> None:
    from PIL import Image

    path = tmp_path / "coffee.jpg"
    Image.fromarray(photos.coffee()).save(path, quality=90)
    top = lite0_predictor.predict([path.read_bytes()], top_k=1)[0]
    assert top[0].label == "espresso"


@pytest.mark.parametrize(
    ("name", "size"), [("efficientnet_lite1", 240), ("efficientnet_lite2", 260)]
)
def test_larger_lite_variants_ship_real_weights(name: str, size: int) -> None:
    predictor = Predictor.from_backbone({"name": name})
    assert predictor.input_size == size
    assert predictor.predict([photos.coffee()], top_k=1)[0][0].label == "espresso"


def test_lite0_interface() -> None:
    backbone = build_backbone(BackboneSpec(name="efficientnet_lite0")).freeze()
    assert (backbone.input_size, backbone.num_features, backbone.num_labels) == (224, 1280, 1000)
    x = torch.rand(2, 3, 64, 64)
    assert backbone.features(x).shape == (2, 1280)
    assert backbone(x).shape == (2, 1000)
    assert not any(p.requires_grad for p in backbone.parameters())


def test_torchvision_model_with_random_weights() -> None:
    backbone = build_backbone(BackboneSpec(name="resnet18", weights="random"))
    assert backbone.num_features == 512 and backbone.ref == {
        "name": "resnet18",
        "weights": "random",
    }
    assert backbone(torch.rand(1, 3, 64, 64)).shape == (1, 1000)
    chosen = last_block_parameters(backbone)
    assert 0 < sum(p.numel() for p in chosen) < sum(p.numel() for p in backbone.body.parameters())


def test_torchvision_weights_offline_name_the_weights_and_cache() -> None:
    weights = resolve_weights("resnet18", "imagenet")
    if cache_path(weights).exists():
        pytest.skip("resnet18 weights are cached on this machine")
    with pytest.raises(UnavailableError) as info:
        build_backbone(BackboneSpec(name="resnet18"))
    assert "ResNet18_Weights.IMAGENET1K_V1" in info.value.message
    assert str(cache_path(weights)) in info.value.message


def test_unknown_weights_list_the_choices() -> None:
    with pytest.raises(UnavailableError, match="IMAGENET1K_V1"):
        build_backbone(BackboneSpec(name="resnet18", weights="LAION"))


def test_timm_model_by_name() -> None:
    backbone = build_backbone(BackboneSpec(name="timm:resnet10t", weights="random"))
    assert backbone.features(torch.rand(1, 3, 64, 64)).shape == (1, backbone.num_features)
    assert backbone.num_labels == 1000


def test_unknown_backbone_says_what_exists() -> None:
    with pytest.raises(UnknownNameError, match="efficientnet_lite0"):
        build_backbone(BackboneSpec(name="alexnet9000"))
    with pytest.raises(UnknownNameError, match="timm has no model"):
        build_backbone(BackboneSpec(name="timm:not_a_model"))


def test_catalog_marks_packaged_weights_available() -> None:
    catalog = {info.name: info for info in list_backbones()}
    assert catalog["efficientnet_lite0"].available_offline
    assert "resnet50" in catalog and "timm:<name>" in catalog
