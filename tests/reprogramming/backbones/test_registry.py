from collections.abc import Callable

import pytest

from reprogramming.backbones import BACKBONES, BackboneRegistry
from reprogramming.backbones.efficientnet_lite import LiteSource
from reprogramming.backbones.timm_ import TimmSource
from reprogramming.backbones.torchvision_ import TorchvisionSource
from reprogramming.errors import UnknownNameError
from reprogramming.registry import DuplicateRegistrationError, Registry


def test_a_second_source_for_a_family_is_refused() -> None:
    registry = BackboneRegistry()
    registry.register(TorchvisionSource())
    with pytest.raises(DuplicateRegistrationError, match="'torchvision' is already registered"):
        registry.register(TorchvisionSource(input_size=256))
    with pytest.raises(DuplicateRegistrationError, match="efficientnet_lite"):
        BACKBONES.register(LiteSource())


def test_a_name_already_taken_is_refused() -> None:
    registry: Registry[Callable[[], int]] = Registry("thing")
    registry.register("one")(lambda: 1)
    with pytest.raises(DuplicateRegistrationError, match="thing 'one' is already registered"):
        registry.register("one")(lambda: 2)
    assert registry.get("one").factory() == 1


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("efficientnet_lite2", "efficientnet_lite"),
        ("resnet18", "torchvision"),
        ("vit_b_16", "torchvision"),
        ("timm:resnet10t", "timm"),
        ("timm:not_a_model", "timm"),  # its scheme, though timm will say it has no such model
    ],
)
def test_a_name_belongs_to_the_family_whose_scheme_it_is_written_in(name: str, family: str) -> None:
    assert BACKBONES.source_for(name).family == family


def test_an_unknown_name_lists_the_registered_schemes() -> None:
    registry = BackboneRegistry()
    registry.register(LiteSource())
    registry.register(TimmSource())
    with pytest.raises(UnknownNameError) as info:
        registry.source_for("resnet18")
    assert info.value.message == (
        "unknown backbone 'resnet18'; use one of "
        "efficientnet_lite0, efficientnet_lite1, efficientnet_lite2 or 'timm:<name>'"
    )
    assert info.value.field == "backbone.name"
