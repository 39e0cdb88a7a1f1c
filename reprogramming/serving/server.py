"""A server for many models in one process: cache, cross-model micro-batching, one device.

Requests are decoded on a thread pool, then queued on their model's *group*: every probe and
program on the same backbone (and backbone input size) is one group, so requests for a
thousand different models still meet in one batch and one backbone forward. A model that owns
its weights is a group of its own. Each group's batcher takes requests in arrival order (no
model's traffic can starve another's), waits at most `max_wait_ms` for requests already on
their way, and runs the batch on the one inference thread.

Usable without any web framework::

    server = ModelServer()
    server.add("digits", "runs/digits")
    server.add("fashion", "runs/fashion")
    server.predict_many([("digits", "7.png"), ("fashion", "shoe.jpg")])   # one forward pass
    await server.classify("digits", [image_bytes])                       # batched with others
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from reprogramming.errors import UnknownNameError
from reprogramming.factory import ModelResolver
from reprogramming.images import ImageLike, decode_batch
from reprogramming.predictor import Prediction
from reprogramming.runtime import pick_device, use_bf16
from reprogramming.serving.cache import CacheStats, Locator, ModelCache
from reprogramming.serving.forward import Request, own_probabilities, shared_probabilities
from reprogramming.serving.units import ServedModel

Batching = Literal["backbone", "model"]


class Observer:
    """Receives the server's measurements (the service turns them into metrics); no-ops here."""

    def batch(self, *, images: int, models: int, seconds: float) -> None:
        """A batch ran: its images, how many distinct models they were for, its forward time."""

    def load(self, *, seconds: float) -> None:
        """A model was loaded from its artifact (a cold start)."""


@dataclass
class _Pending:
    served: ServedModel
    images: torch.Tensor
    future: asyncio.Future[torch.Tensor]


@dataclass
class _Group:
    queue: asyncio.Queue[_Pending] = field(default_factory=asyncio.Queue)
    # Requests admitted but still decoding their images: the batcher waits (bounded) for them.
    in_flight: int = 0
    task: asyncio.Task[None] | None = None


class ModelServer:
    """Many artifacts served from one process, batched across models that share a backbone."""

    def __init__(
        self,
        *,
        budget_bytes: int = 2 * 2**30,
        max_batch: int = 64,
        max_wait_ms: float = 5.0,
        device: str = "auto",
        precision: str = "auto",
        batching: Batching = "backbone",
        observer: Observer | None = None,
        decode_threads: int | None = None,
    ) -> None:
        self.device = pick_device(device)
        self.bf16 = use_bf16(precision, self.device, training_weights=False)
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.batching = batching
        self.observer = observer or Observer()
        # Every forward pass, and every model build, runs on this one thread. Torch's OpenMP
        # pool belongs to the thread that calls it: torch work spread over several threads
        # brings a team of spinning OpenMP workers for each, and they fight over the cores
        # (measured on 2 cores: a forward 2.5x slower once a second thread had used torch).
        self._inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self.cache = ModelCache(
            budget_bytes=budget_bytes, device=self.device, precision=precision,
            on_load=lambda seconds: self.observer.load(seconds=seconds),
            builder=self._inference,
        )  # fmt: skip
        self._directories: dict[str, Path] = {}
        self._groups: dict[tuple[str, ...], _Group] = {}
        self._decode = ThreadPoolExecutor(
            max_workers=decode_threads or min(8, os.cpu_count() or 2), thread_name_prefix="decode"
        )

    # Models -------------------------------------------------------------------------------

    def add(self, model_id: str, directory: str | Path) -> None:
        """Register an artifact directory under a name (loaded on its first request)."""
        self._directories[model_id] = Path(directory)

    def get(self, model_id: str) -> ServedModel | None:
        """The model if it is in memory (no loading)."""
        return self.cache.get(model_id)

    def load(
        self,
        model_id: str,
        locate: Locator | None = None,
        *,
        tag: Any = None,
        resolve_model: ModelResolver | None = None,
    ) -> ServedModel:
        """The model, loaded on first use from `locate()` or from the directory added for it."""
        if locate is None:
            served = self.cache.get(model_id)
            if served is not None:
                return served
            directory = self._directories.get(model_id)
            if directory is None:
                raise UnknownNameError(f"no model '{model_id}' was added to this server")
            locate = lambda: directory  # noqa: E731
        return self.cache.load(model_id, locate, tag=tag, resolve_model=resolve_model)

    def evict(self, model_id: str) -> bool:
        """Stop serving a model now (it was deleted); whether it was in memory."""
        self._directories.pop(model_id, None)
        return self.cache.evict(model_id)

    def stats(self) -> CacheStats:
        """What the model cache holds."""
        return self.cache.stats()

    # Decoding -----------------------------------------------------------------------------

    def decode(self, served: ServedModel, images: Sequence[ImageLike]) -> torch.Tensor:
        """Images of any size and mode as one uint8 batch fitted to the model's input."""
        return decode_batch(images, channels=served.channels, size=served.input_size)

    # Synchronous use ----------------------------------------------------------------------

    def probabilities_many(self, requests: Sequence[Request]) -> list[torch.Tensor]:
        """Probabilities for (model, uint8 batch) pairs, one forward per group, in this thread."""
        results: list[torch.Tensor | None] = [None] * len(requests)
        groups = [self._group_of(served) for served, _ in requests]
        order = sorted(range(len(requests)), key=groups.__getitem__)
        for _, members in itertools.groupby(order, key=groups.__getitem__):
            chosen = list(members)
            for i, probs in zip(chosen, self._run([requests[i] for i in chosen]), strict=True):
                results[i] = probs
        return results  # type: ignore[return-value]

    def predict_many(
        self, items: Sequence[tuple[str, ImageLike]], *, top_k: int = 5
    ) -> list[list[Prediction]]:
        """Top-k labels for (model id, image) pairs, batched across the models."""
        requests = []
        for model_id, image in items:
            served = self.load(model_id)
            requests.append((served, self.decode(served, [image])))
        probs = self.probabilities_many(requests)
        return [served.top_k(p, top_k)[0] for (served, _), p in zip(requests, probs, strict=True)]

    def predict(
        self, model_id: str, images: Sequence[ImageLike], *, top_k: int = 5
    ) -> list[list[Prediction]]:
        """Top-k labels for images sent to one model."""
        if not images:
            return []
        served = self.load(model_id)
        (probs,) = self.probabilities_many([(served, self.decode(served, images))])
        return served.top_k(probs, top_k)

    # Asynchronous use: batching concurrent requests ----------------------------------------

    async def classify(self, served: ServedModel, images: Sequence[ImageLike]) -> torch.Tensor:
        """Probabilities for one request's images, batched with concurrent requests."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        group = self._group(self._group_of(served))
        group.in_flight += 1
        try:
            batch = await loop.run_in_executor(self._decode, self.decode, served, images)
        finally:
            group.in_flight -= 1
        future: asyncio.Future[torch.Tensor] = loop.create_future()
        group.queue.put_nowait(_Pending(served, batch, future))
        if group.task is None or group.task.done():
            group.task = asyncio.create_task(self._drain(group))
        probs = await future
        served.stats.requests += 1
        served.stats.images += len(batch)
        served.stats.seconds += time.perf_counter() - started
        return probs

    def close(self) -> None:
        """Stop the batchers and the threads (after the forward in progress, if any)."""
        for group in self._groups.values():
            if group.task is not None:
                group.task.cancel()
        self._inference.shutdown(wait=False, cancel_futures=True)
        self._decode.shutdown(wait=False, cancel_futures=True)

    def _group_of(self, served: ServedModel) -> tuple[str, ...]:
        if self.batching == "model" and served.shared:
            return ("model", served.model_id)
        return served.group

    def _group(self, key: tuple[str, ...]) -> _Group:
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        return group

    async def _drain(self, group: _Group) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await group.queue.get()]
            count = len(batch[0].images)
            deadline = loop.time() + self.max_wait
            # Wait (bounded) only for requests already on their way; a lone request runs at once.
            while count < self.max_batch and (group.in_flight > 0 or not group.queue.empty()):
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    item = await asyncio.wait_for(group.queue.get(), timeout)
                except TimeoutError:
                    break
                batch.append(item)
                count += len(item.images)
            requests = [(p.served, p.images) for p in batch]
            try:
                results = await loop.run_in_executor(self._inference, self._run, requests)
            except Exception as exc:
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            for pending, probs in zip(batch, results, strict=True):
                if not pending.future.done():
                    pending.future.set_result(probs)

    def _run(self, requests: list[Request]) -> list[torch.Tensor]:
        """One batch's forward pass (a group's requests), measured for the observer."""
        started = time.perf_counter()
        if requests[0][0].shared:
            results = shared_probabilities(requests, device=self.device, bf16=self.bf16)
        else:
            results = own_probabilities(requests)
        self.observer.batch(
            images=sum(len(images) for _, images in requests),
            models=len({id(served) for served, _ in requests}),
            seconds=time.perf_counter() - started,
        )
        return results
