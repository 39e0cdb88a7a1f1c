"""Prometheus metrics: requests, latencies, jobs by status, predict batch sizes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.logs import describe, log_event

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
    "Images per backbone batch run by /predict (after micro-batching).",
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


class JobsByStatus:
    """Counts jobs by status from the database at scrape time."""

    def __init__(self, count: Callable[[], dict[str, int]]) -> None:
        self.count = count

    def collect(self):  # type: ignore[no-untyped-def]
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
