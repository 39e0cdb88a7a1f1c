"""Prometheus metrics: requests, latencies, jobs by status, serving (batches, loads, models)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.logs import describe, log_event
from reprogramming.serving import ModelServer, Observer

log = logging.getLogger("reprogram.api")

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "reprogram_http_requests_total",
    "HTTP requests by method, route and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "reprogram_http_request_seconds",
    "HTTP request latency by route.",
    ["method", "route"],
    registry=REGISTRY,
)
PREDICT_BATCH = Histogram(
    "reprogram_predict_batch_images",
    "Images per forward pass run by /predict (after micro-batching across models).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)
PREDICT_FORWARD = Histogram(
    "reprogram_predict_forward_seconds",
    "Time of one micro-batch's forward pass on the inference thread (the rest of a /predict "
    "request's latency is HTTP, decoding and queueing).",
    buckets=(0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
PREDICT_BATCH_MODELS = Histogram(
    "reprogram_predict_batch_models",
    "Distinct models per forward pass run by /predict (above 1: models shared a batch).",
    buckets=(1, 2, 4, 8, 16, 32, 64),
    registry=REGISTRY,
)
MODEL_LOAD = Histogram(
    "reprogram_model_load_seconds",
    "Cold loads: fetching a model's artifact and building it for serving.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)


class ServingMetrics(Observer):
    """The model server's measurements, as histograms."""

    def batch(self, *, images: int, models: int, seconds: float) -> None:
        PREDICT_BATCH.observe(images)
        PREDICT_BATCH_MODELS.observe(models)
        PREDICT_FORWARD.observe(seconds)

    def load(self, *, seconds: float) -> None:
        MODEL_LOAD.observe(seconds)


class ServedModelsCollector:
    """The model cache and each resident model's traffic, read at scrape time."""

    server: ModelServer | None = None

    def collect(self) -> Iterator[Metric]:
        if self.server is None:
            return
        stats = self.server.stats()
        memory = GaugeMetricFamily(
            "reprogram_model_cache_bytes", "Model cache memory: resident and budget.",
            labels=["kind"],
        )  # fmt: skip
        memory.add_metric(["resident"], stats.resident_bytes)
        memory.add_metric(["budget"], stats.budget_bytes)
        yield memory
        yield GaugeMetricFamily("reprogram_model_cache_models", "Models in memory.", stats.models)
        yield GaugeMetricFamily(
            "reprogram_model_cache_backbones", "Shared backbones in memory.", stats.backbones
        )
        yield CounterMetricFamily(
            "reprogram_model_cache_evictions", "Models evicted to stay within the budget.",
            stats.evictions,
        )  # fmt: skip
        requests = CounterMetricFamily(
            "reprogram_model_requests", "/predict requests per resident model.", labels=["model_id"]
        )
        images = CounterMetricFamily(
            "reprogram_model_images", "Images predicted per resident model.", labels=["model_id"]
        )
        seconds = CounterMetricFamily(
            "reprogram_model_request_seconds",
            "Time in /predict per resident model (decoding, queueing, forward).",
            labels=["model_id"],
        )
        for served in self.server.cache.resident():
            requests.add_metric([served.model_id], served.stats.requests)
            images.add_metric([served.model_id], served.stats.images)
            seconds.add_metric([served.model_id], served.stats.seconds)
        yield requests
        yield images
        yield seconds


SERVED_MODELS = ServedModelsCollector()


class StorageByOwner:
    """Each owner's stored uploads and models, read from the database at scrape time."""

    def __init__(self, read: Callable[[], list[tuple[str, str, int, int]]]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        size = GaugeMetricFamily("reprogram_storage_bytes", "Stored bytes by owner and kind.",
                                 labels=["owner", "kind"])  # fmt: skip
        count = GaugeMetricFamily("reprogram_storage_objects", "Stored items by owner and kind.",
                                  labels=["owner", "kind"])  # fmt: skip
        try:
            rows = self.read()
        except Exception as exc:  # an unreachable database must not break the whole scrape
            log_event(log, "storage gauges left out of the scrape", level=logging.WARNING,
                      error=describe(exc))  # fmt: skip
            rows = []
        for owner, kind, n, total in rows:
            size.add_metric([owner, kind], total)
            count.add_metric([owner, kind], n)
        yield size
        yield count


class JobsByStatus:
    """Counts jobs by status from the database at scrape time."""

    def __init__(self, count: Callable[[], dict[str, int]]) -> None:
        self.count = count

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("reprogram_jobs", "Jobs by status.", labels=["status"])
        try:
            counts = self.count()
        except Exception as exc:  # an unreachable database must not break the whole scrape
            log_event(log, "jobs gauge left out of the scrape", level=logging.WARNING,
                      error=describe(exc))  # fmt: skip
            counts = {}
        for status, n in counts.items():
            family.add_metric([status], n)
        yield family


class MetricsMiddleware:
    """Count and time every request by its route template (a plain ASGI middleware: cheap)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            LATENCY.labels(method, template).observe(time.perf_counter() - start)
            REQUESTS.labels(method, template, str(status)).inc()
