from pathlib import Path

import pytest
import torch

from reprogramming.artifacts import save_artifact
from reprogramming.errors import UnknownNameError
from reprogramming.factory import build_backbone, load_model
from reprogramming.methods import build_model
from reprogramming.spec import BackboneSpec, LinearProbeSpec


@pytest.mark.parametrize(
    ("name", "input_size", "mean"),
    [
        ("efficientnet_lite0", 224, 0.5),  # its weights expect [-1, 1]
        ("resnet18", 224, 0.485),
        ("timm:resnet10t", 176, 0.485),  # timm's pretrained config for the model
    ],
)
def test_a_registry_name_builds_its_family_backbone(
    name: str, input_size: int, mean: float
) -> None:
    backbone = build_backbone(BackboneSpec(name=name, weights="random")).freeze()
    assert backbone.ref == {"name": name, "weights": "random"}
    assert backbone.input_size == input_size
    assert backbone.mean.flatten()[0].item() == pytest.approx(mean)
    assert backbone.features(torch.rand(1, 3, 32, 32)).shape == (1, backbone.num_features)


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained linear probe over EfficientNet-Lite0, written as an artifact."""
    backbone = build_backbone(BackboneSpec(name="efficientnet_lite0"))
    model = build_model(LinearProbeSpec(input_size=32), backbone, ["cat", "dog", "fish"])
    directory = tmp_path_factory.mktemp("probe")
    spec = {
        "backbone": {"name": "efficientnet_lite0"},
        "method": {"kind": "linear_probe"},
    }
    save_artifact(model, directory, spec=spec, metrics={}, history=[], channels=3, dataset={})
    return directory


def test_an_artifact_directory_is_a_backbone_with_the_models_labels(probe_dir: Path) -> None:
    backbone = build_backbone(BackboneSpec(artifact=str(probe_dir)))
    model = load_model(probe_dir)
    assert backbone.ref == {"artifact": str(probe_dir.resolve())}
    assert backbone.identity == f"artifact:{model.artifact_manifest['artifact_id']}"
    assert (backbone.labels, backbone.input_size, backbone.num_features) == (
        ["cat", "dog", "fish"], 32, 1280,
    )  # fmt: skip
    x = torch.rand(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(backbone.eval()(x), model(x), atol=1e-5)


def test_a_model_id_is_resolved_by_the_caller(probe_dir: Path) -> None:
    backbone = build_backbone(
        BackboneSpec(model_id="mdl_1"), resolve_model={"mdl_1": probe_dir}.__getitem__
    )
    assert backbone.ref == {"model_id": "mdl_1"}
    assert backbone.labels == ["cat", "dog", "fish"]
    with pytest.raises(UnknownNameError, match="needs the service"):
        build_backbone(BackboneSpec(model_id="mdl_1"))
