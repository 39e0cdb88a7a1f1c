"""Loaded models kept within a memory budget, least recently used evicted, backbones shared.

The budget counts what the cache holds on its device: each model's own tensors plus each shared
backbone once. A backbone is reference-counted by the models on it and dropped with the last of
them. Loads are single-flight: concurrent first requests for a model load it once and all get
the same object; a failed load fails every waiter and is tried afresh by the next request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reprogramming.artifacts import read_manifest
from reprogramming.backbones import Backbone
from reprogramming.factory import ModelResolver, build_backbone, load_model
from reprogramming.predictor import Predictor
from reprogramming.runtime import to_device
from reprogramming.serving.units import (
    SHARED_METHODS,
    ServedModel,
    backbone_key,
    module_bytes,
    own_parts,
    shared_parts,
)
from reprogramming.spec import BackboneSpec

Locator = Callable[[], Path]  # where a model's artifact directory is (may fetch it first)


@dataclass
class _SharedBackbone:
    backbone: Backbone
    # The backbone without its weights: what a model's own parts are built over. Loading a
    # model over the real one would walk its thousands of modules (3 ms a model, on the
    # inference thread); over the shell it is a tenth of that.
    shell: Backbone
    nbytes: int
    users: int = 0


def _shell(backbone: Backbone) -> Backbone:
    """The backbone's description (features, input, labels) with no layers and no weights."""
    return Backbone(
        body=nn.Identity(), head=nn.Identity(), num_features=backbone.num_features,
        input_size=backbone.input_size, mean=backbone.mean.flatten().tolist(),
        std=backbone.std.flatten().tolist(), labels=backbone.labels, ref=backbone.ref,
        identity=backbone.identity,
    )  # fmt: skip


@dataclass(frozen=True)
class CacheStats:
    """What the cache holds now, and what it has done since it started."""

    models: int
    backbones: int
    resident_bytes: int
    budget_bytes: int
    loads: int
    evictions: int


class ModelCache:
    """Served models by id within `budget_bytes`; the newest model is always kept."""

    def __init__(
        self,
        *,
        budget_bytes: int,
        device: torch.device,
        precision: str = "auto",
        on_load: Callable[[float], None] | None = None,
        builder: Executor | None = None,
    ) -> None:
        self.budget_bytes = budget_bytes
        self.device = device
        self.precision = precision
        self._on_load = on_load
        self._builder = builder  # where models are built (the server's inference thread)
        self._models: OrderedDict[str, ServedModel] = OrderedDict()
        self._backbones: dict[str, _SharedBackbone] = {}
        self._loading: dict[str, Future[ServedModel]] = {}
        self._lock = threading.Lock()
        self._building = threading.Lock()  # backbones are built one at a time, each once
        self._model_bytes = 0
        self._loads = 0
        self._evictions = 0

    def get(self, model_id: str) -> ServedModel | None:
        """The model if it is resident (marked recently used), without loading it."""
        with self._lock:
            served = self._models.get(model_id)
            if served is not None:
                self._models.move_to_end(model_id)
            return served

    def load(
        self,
        model_id: str,
        locate: Locator,
        *,
        tag: Any = None,
        resolve_model: ModelResolver | None = None,
    ) -> ServedModel:
        """The model, loading it from its artifact on first use (once, however many ask)."""
        with self._lock:
            served = self._models.get(model_id)
            if served is not None:
                self._models.move_to_end(model_id)
                return served
            pending = self._loading.get(model_id)
            owner = pending is None
            if owner:
                pending = self._loading[model_id] = Future()
        assert pending is not None
        if not owner:
            return pending.result()
        try:
            started = time.perf_counter()
            directory = locate()  # fetching runs here; building (torch work) on the builder
            if self._builder is None:
                served = self._build(model_id, directory, resolve_model=resolve_model)
            else:
                served = self._builder.submit(
                    self._build, model_id, directory, resolve_model=resolve_model
                ).result()
            served.tag = tag
            if self._on_load is not None:
                self._on_load(time.perf_counter() - started)
        except BaseException as exc:
            with self._lock:
                del self._loading[model_id]
            pending.set_exception(exc)
            raise
        with self._lock:
            self._models[model_id] = served
            self._model_bytes += served.nbytes
            self._loads += 1
            del self._loading[model_id]
            self._evict_over_budget()
        pending.set_result(served)
        return served

    def evict(self, model_id: str) -> bool:
        """Drop a model now (e.g. it was deleted); whether it was resident."""
        with self._lock:
            served = self._models.pop(model_id, None)
            if served is not None:
                self._forget(served)
            return served is not None

    def stats(self) -> CacheStats:
        """A snapshot of the cache's contents and counters."""
        with self._lock:
            return CacheStats(
                models=len(self._models),
                backbones=len(self._backbones),
                resident_bytes=self._resident(),
                budget_bytes=self.budget_bytes,
                loads=self._loads,
                evictions=self._evictions,
            )

    def resident(self) -> list[ServedModel]:
        """The resident models, least recently used first."""
        with self._lock:
            return list(self._models.values())

    def _resident(self) -> int:
        return self._model_bytes + sum(b.nbytes for b in self._backbones.values())

    def _evict_over_budget(self) -> None:
        while self._resident() > self.budget_bytes and len(self._models) > 1:
            _, served = self._models.popitem(last=False)
            self._forget(served)
            self._evictions += 1

    def _forget(self, served: ServedModel) -> None:
        self._model_bytes -= served.nbytes
        if served.backbone_key is not None:
            self._release(served.backbone_key)

    def _build(
        self, model_id: str, directory: Path, *, resolve_model: ModelResolver | None
    ) -> ServedModel:
        manifest = read_manifest(directory)
        ref = manifest["backbone"]
        if manifest["method"] not in SHARED_METHODS or "name" not in ref or ref["name"] is None:
            predictor = Predictor.from_artifact(
                directory, resolve_model=resolve_model, device=str(self.device),
                precision=self.precision,
            )  # fmt: skip
            return own_parts(predictor, model_id=model_id)
        key = backbone_key(ref)
        shared = self._acquire(key, ref)
        try:
            model = load_model(directory, backbone=shared.shell)
            channels = int(manifest["input"].get("channels", 3))
            return shared_parts(
                model, backbone=shared.backbone, model_id=model_id, channels=channels, key=key,
                device=self.device,
            )  # fmt: skip
        except BaseException:
            with self._lock:
                self._release(key)
            raise

    def _acquire(self, key: str, ref: dict[str, Any]) -> _SharedBackbone:
        """The shared backbone for `ref`, built on first use; the caller now holds a reference."""
        with self._building:
            with self._lock:
                entry = self._backbones.get(key)
                if entry is not None:
                    entry.users += 1
                    return entry
            backbone = build_backbone(BackboneSpec(**ref)).freeze()
            backbone = to_device(backbone, self.device)
            entry = _SharedBackbone(backbone, _shell(backbone), module_bytes(backbone), users=1)
            with self._lock:
                self._backbones[key] = entry
            return entry

    def _release(self, key: str) -> None:
        entry = self._backbones[key]
        entry.users -= 1
        if entry.users == 0:
            del self._backbones[key]
