"""Prometheus metrics: requests, latencies, jobs by status, predict batch sizes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

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


class JobsByStatus:
    """Counts jobs by status from the database at scrape time."""

    def __init__(self, count: Callable[[], dict[str, int]]) -> None:
        self.count = count

    def collect(self):  # type: ignore[no-untyped-def]
        family = GaugeMetricFamily("reprogram_jobs", "Jobs by status.", labels=["status"])
        try:
            for status, n in self.count().items():
                family.add_metric([status], n)
        except Exception:  # an unreachable database must not break the scrape
            pass
        yield family


async def middleware(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Count and time every request by its route template (not its raw path)."""
    start = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    template = getattr(route, "path", "unmatched")
    LATENCY.labels(request.method, template).observe(time.perf_counter() - start)
    REQUESTS.labels(request.method, template, str(response.status_code)).inc()
    return response
