"""torchvision's datasets by name, downloaded into the data directory when the network allows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reprogramming.data.base import ImageSet, Source
from reprogramming.errors import UnavailableError
from reprogramming.images import to_uint8


@dataclass(frozen=True)
class TorchvisionDataset:
    """How to ask torchvision for one dataset's train and (official) test parts."""

    cls: str
    train: dict[str, Any]
    test: dict[str, Any] | None = None
    fixed_size: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


TORCHVISION_DATASETS: dict[str, TorchvisionDataset] = {
    "mnist": TorchvisionDataset("MNIST", {"train": True}, {"train": False}, fixed_size=True),
    "cifar10": TorchvisionDataset("CIFAR10", {"train": True}, {"train": False}, fixed_size=True),
    "cifar100": TorchvisionDataset("CIFAR100", {"train": True}, {"train": False}, fixed_size=True),
    "svhn": TorchvisionDataset("SVHN", {"split": "train"}, {"split": "test"}, fixed_size=True),
    "caltech101": TorchvisionDataset("Caltech101", {"target_type": "category"}),
    "caltech256": TorchvisionDataset("Caltech256", {}),
    "flowers102": TorchvisionDataset("Flowers102", {"split": "train"}, {"split": "test"}),
    "dtd": TorchvisionDataset("DTD", {"split": "train"}, {"split": "test"}),
    "eurosat": TorchvisionDataset("EuroSAT", {}),
    "gtsrb": TorchvisionDataset("GTSRB", {"split": "train"}, {"split": "test"}),
    "oxford_iiit_pet": TorchvisionDataset(
        "OxfordIIITPet", {"split": "trainval"}, {"split": "test"}
    ),
    "food101": TorchvisionDataset("Food101", {"split": "train"}, {"split": "test"}),
}


def _classes(dataset: Any, labels: torch.Tensor) -> list[str]:
    for attribute in ("classes", "categories"):
        names = getattr(dataset, attribute, None)
        if names:
            return [str(n) for n in names]
    return [str(i) for i in range(int(labels.max()) + 1)]


def _decode(dataset: Any, *, image_size: int) -> ImageSet:
    data = getattr(dataset, "data", None)
    if isinstance(data, torch.Tensor) and data.ndim == 3:  # MNIST: N×H×W uint8
        images = data.unsqueeze(1).contiguous()
        labels = torch.as_tensor(dataset.targets, dtype=torch.int64)
    elif isinstance(data, np.ndarray) and data.ndim == 4:  # CIFAR N×H×W×C, SVHN N×C×H×W
        array = data if data.shape[1] == 3 else data.transpose(0, 3, 1, 2)
        images = torch.from_numpy(np.ascontiguousarray(array))
        targets = getattr(dataset, "targets", None)
        labels = torch.as_tensor(targets if targets is not None else dataset.labels)
        labels = labels.to(torch.int64)
    else:
        decoded, targets = [], []
        for index in range(len(dataset)):
            image, target = dataset[index]
            decoded.append(to_uint8(image, channels=3, size=image_size))
            targets.append(int(target))
        images = torch.stack(decoded)
        labels = torch.tensor(targets, dtype=torch.int64)
    return ImageSet(images, labels, _classes(dataset, labels))


def load_torchvision(name: str, *, root: Path, image_size: int, download: bool) -> Source:
    """Decode a torchvision dataset into uint8 tensors, or say clearly why it is unavailable."""
    import torchvision.datasets as tvd

    entry = TORCHVISION_DATASETS[name]
    factory = getattr(tvd, entry.cls)
    root.mkdir(parents=True, exist_ok=True)

    def part(kwargs: dict[str, Any]) -> ImageSet:
        try:
            dataset = factory(str(root), download=download, **kwargs)
        except Exception as exc:  # torchvision raises RuntimeError, URLError, OSError, ...
            raise UnavailableError(
                f"dataset '{name}' is not in {root} and could not be downloaded "
                f"(this host may be offline): {exc}"
            ) from exc
        return _decode(dataset, image_size=image_size)

    train = part(entry.train)
    test = part(entry.test) if entry.test is not None else None
    if test is not None:
        test.classes = train.classes
    return Source(train, test, meta={"origin": f"torchvision.datasets.{entry.cls}"})
