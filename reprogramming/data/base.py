"""Decoded datasets as uint8 tensors, and their deterministic train/val/test splits."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import torch

from reprogramming.errors import ReprogramError
from reprogramming.spec import DatasetSpec


@dataclass
class ImageSet:
    """Images decoded once: uint8 NCHW (1 or 3 channels), int64 labels, class names."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor) -> ImageSet:
        """The images at `index`, same classes."""
        return ImageSet(self.images[index], self.labels[index], self.classes)


@dataclass
class Source:
    """What a dataset loader returns: the full data, with an official test set if it has one."""

    train: ImageSet
    test: ImageSet | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Splits:
    """The train/val/test sets a job trains and reports on."""

    train: ImageSet
    val: ImageSet
    test: ImageSet
    classes: list[str]
    key: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def split_key(spec: DatasetSpec, source_key: str) -> str:
    """A stable hash of everything that decides which images land in which split."""
    fields = spec.model_dump(exclude={"name", "upload_id", "path"})
    text = json.dumps({"source": source_key, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _select_classes(data: ImageSet, wanted: list[str | int] | None) -> tuple[ImageSet, list[int]]:
    if not wanted:
        return data, list(range(len(data.classes)))
    chosen: list[int] = []
    for item in wanted:
        if isinstance(item, int) or (isinstance(item, str) and item not in data.classes):
            try:
                index = int(item)
            except ValueError:
                raise ReprogramError(
                    f"unknown class '{item}'; classes are {data.classes}",
                    field="dataset.classes",
                ) from None
            if not 0 <= index < len(data.classes):
                raise ReprogramError(
                    f"class index {index} out of range 0..{len(data.classes) - 1}",
                    field="dataset.classes",
                )
        else:
            index = data.classes.index(item)
        if index not in chosen:
            chosen.append(index)
    if len(chosen) < 2:
        raise ReprogramError("keep at least two classes", field="dataset.classes")
    return _remap(data, chosen), chosen


def _remap(data: ImageSet, chosen: list[int]) -> ImageSet:
    lookup = torch.full((len(data.classes),), -1, dtype=torch.int64)
    lookup[torch.tensor(chosen)] = torch.arange(len(chosen))
    keep = torch.isin(data.labels, torch.tensor(chosen))
    return ImageSet(data.images[keep], lookup[data.labels[keep]], [data.classes[i] for i in chosen])


def _per_class(labels: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
    """For each class, the indices of its items in a seeded random order."""
    order = torch.randperm(len(labels), generator=generator)
    shuffled = labels[order]
    return [order[shuffled == c] for c in range(int(labels.max()) + 1)] if len(labels) else []


def _take(groups: list[torch.Tensor], fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Split each class's indices: the first `fraction` of each (at least one) and the rest."""
    held, rest = [], []
    for group in groups:
        n = len(group)
        k = min(n - 1, max(1, round(n * fraction))) if fraction > 0 and n > 1 else 0
        held.append(group[:k])
        rest.append(group[k:])
    return torch.cat(held).sort().values, torch.cat(rest).sort().values


def _cap(data: ImageSet, per_class: int | None, generator: torch.Generator) -> ImageSet:
    if per_class is None or len(data) == 0:
        return data
    groups = _per_class(data.labels, generator)
    keep = torch.cat([g[:per_class] for g in groups]).sort().values
    return data.subset(keep)


def make_splits(source: Source, spec: DatasetSpec, *, source_key: str) -> Splits:
    """Seeded, stratified train/val/test splits with the spec's class subset and caps."""
    generator = torch.Generator().manual_seed(spec.seed)
    train_pool, chosen = _select_classes(source.train, spec.classes)
    if source.test is not None:
        test = _remap(source.test, chosen) if spec.classes else source.test
    else:
        test_idx, train_idx = _take(_per_class(train_pool.labels, generator), spec.test_fraction)
        test, train_pool = train_pool.subset(test_idx), train_pool.subset(train_idx)
    val_idx, train_idx = _take(_per_class(train_pool.labels, generator), spec.val_fraction)
    val, train = train_pool.subset(val_idx), train_pool.subset(train_idx)
    train = _cap(train, spec.max_per_class, generator)
    # Validation keeps the same share of what training keeps, so capped jobs validate quickly.
    if spec.max_per_class is not None:
        val_cap = max(1, round(spec.max_per_class * spec.val_fraction / (1 - spec.val_fraction)))
        val = _cap(val, val_cap, generator)
    test = _cap(test, spec.test_max_per_class, generator)
    if len(train) == 0 or len(test) == 0:
        raise ReprogramError("the dataset is too small to split", field="dataset")
    return Splits(
        train=train,
        val=val,
        test=test,
        classes=train.classes,
        key=split_key(spec, source_key),
        meta={**source.meta, "class_indices": chosen},
    )
