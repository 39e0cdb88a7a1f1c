"""Serving trained models: a cache in which models share backbones, and micro-batching.

Every model built on the same frozen backbone (linear probes, programs) shares one backbone
instance in memory; only its head or program is its own. Concurrent requests to a model are
gathered into one batch (bounded wait, bounded size) and run together off the event loop, on
one inference thread per process.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from api import metrics


@dataclass
class _Pending:
    images: torch.Tensor
    future: asyncio.Future[torch.Tensor]


@dataclass
class Served:
    """A loaded model with its own request queue."""

    model_id: str
    predictor: Any
    owner_id: str = ""
    queue: asyncio.Queue[_Pending] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    # Requests admitted but still decoding their images: the batcher waits for them only.
    in_flight: int = 0


def _timed_forward(predictor: Any, images: torch.Tensor) -> torch.Tensor:
    """The predictor's probabilities, timed into the forward-pass histogram."""
    with metrics.PREDICT_FORWARD.time():
        return predictor.probabilities(images)


class ModelCache:
    """Loaded models by id (least recently used evicted), sharing backbones between them."""

    def __init__(self, *, capacity: int, max_batch: int, max_wait_ms: float) -> None:
        self.capacity = capacity
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self._models: OrderedDict[str, Served] = OrderedDict()
        self._backbones: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        # Every forward pass runs on this one thread. Torch's OpenMP pool belongs to the thread
        # that calls it: forwards spread over a pool of threads would each bring a team of
        # spinning OpenMP workers and fight over the cores; one thread keeps one warm team.
        self._inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")

    def cached(self, model_id: str, owner_id: str) -> Served | None:
        """The loaded model if it is in memory and the owner's (no database round trip)."""
        with self._lock:
            served = self._models.get(model_id)
            if served is not None and served.owner_id == owner_id:
                self._models.move_to_end(model_id)
                return served
        return None

    def close(self) -> None:
        """Stop the inference thread (after the forward in progress, if any)."""
        self._inference.shutdown(wait=False, cancel_futures=True)

    def backbone_count(self) -> int:
        """How many distinct backbones are in memory."""
        return len(self._backbones)

    def _shared_backbone(self, manifest: dict[str, Any]) -> Any:
        from reprogramming.backbones import build_backbone
        from reprogramming.spec import BackboneSpec

        if manifest["method"] in ("finetune", "scratch"):
            return None  # their backbone weights are their own
        key = json.dumps(manifest["backbone"], sort_keys=True)
        with self._lock:
            if key not in self._backbones:
                self._backbones[key] = build_backbone(BackboneSpec(**manifest["backbone"])).freeze()
            return self._backbones[key]

    def load(
        self, model_id: str, artifact_dir: Path, *, owner_id: str = "", resolve_model: Any = None
    ) -> Served:
        """The served model, loading it (read-only: JSON and safetensors) on first use."""
        with self._lock:
            served = self._models.get(model_id)
            if served is not None:
                self._models.move_to_end(model_id)
                return served
            loading = self._loading.setdefault(model_id, threading.Lock())
        with loading:  # concurrent first requests load the model once
            with self._lock:
                served = self._models.get(model_id)
            if served is not None:
                return served
            return self._load(model_id, artifact_dir, owner_id, resolve_model=resolve_model)

    def _load(
        self, model_id: str, artifact_dir: Path, owner_id: str, *, resolve_model: Any
    ) -> Served:
        from reprogramming.artifacts import read_manifest
        from reprogramming.predictor import Predictor

        manifest = read_manifest(artifact_dir)
        backbone = None
        if "model_id" not in manifest["backbone"] and "artifact" not in manifest["backbone"]:
            backbone = self._shared_backbone(manifest)
        predictor = Predictor.from_artifact(
            artifact_dir, backbone=backbone, resolve_model=resolve_model
        )
        served = Served(model_id=model_id, predictor=predictor, owner_id=owner_id)
        with self._lock:
            self._models[model_id] = served
            while len(self._models) > self.capacity:
                _, evicted = self._models.popitem(last=False)
                if evicted.task is not None:
                    evicted.task.cancel()
        return served

    async def probabilities(
        self, served: Served, images: torch.Tensor, *, admitted: bool = False
    ) -> torch.Tensor:
        """Class probabilities for a uint8 batch, run together with concurrent requests."""
        if served.task is None or served.task.done():
            served.task = asyncio.create_task(self._drain(served))
        future: asyncio.Future[torch.Tensor] = asyncio.get_running_loop().create_future()
        served.queue.put_nowait(_Pending(images, future))
        if admitted:  # counted in in_flight while decoding; now it is in the queue instead
            served.in_flight -= 1
        return await future

    async def _drain(self, served: Served) -> None:
        while True:
            first = await served.queue.get()
            batch = [first]
            count = len(first.images)
            deadline = asyncio.get_running_loop().time() + self.max_wait
            # Wait (bounded) only for requests already on their way; a lone request runs at once.
            while count < self.max_batch and (served.in_flight > 0 or not served.queue.empty()):
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0:
                    break
                try:
                    item = await asyncio.wait_for(served.queue.get(), timeout)
                except TimeoutError:
                    break
                batch.append(item)
                count += len(item.images)
            metrics.PREDICT_BATCH.observe(count)
            try:
                stacked = torch.cat([p.images for p in batch])
                probs = await asyncio.get_running_loop().run_in_executor(
                    self._inference, _timed_forward, served.predictor, stacked
                )
            except Exception as exc:
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            offset = 0
            for pending in batch:
                n = len(pending.images)
                if not pending.future.done():
                    pending.future.set_result(probs[offset : offset + n])
                offset += n
