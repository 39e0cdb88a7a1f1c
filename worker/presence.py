"""A worker's presence in the database: what it is, what it serves, what it runs now."""

from __future__ import annotations

import logging
import threading

from config.logs import describe, log_event
from config.settings import Settings
from db import workers
from db.session import run_transaction
from worker.device import this_device

log = logging.getLogger("reprogram.worker")
_stop = threading.Event()


def report_interval(settings: Settings) -> float:
    """Seconds between reports: a live worker is one seen within heartbeat_timeout_s."""
    return max(0.5, min(10.0, settings.heartbeat_timeout_s / 4))


def report(settings: Settings, *, worker_id: str, queues: list[str]) -> None:
    """Record (or refresh) this worker's row."""
    device = this_device()
    run_transaction(
        lambda s: workers.report(
            s, id=worker_id, kind=device.kind, device=device.name,
            memory_gb=device.memory_gb, queues=queues,
        ),
        url=settings.sqlalchemy_url,
    )  # fmt: skip


def _loop(settings: Settings, worker_id: str, queues: list[str]) -> None:
    failing = False
    while True:
        try:
            report(settings, worker_id=worker_id, queues=queues)
            failing = False
        except Exception as exc:  # the database may be down; jobs go on, the next report retries
            if not failing:
                log_event(log, "presence report failed; retrying", level=logging.WARNING,
                          error=describe(exc))  # fmt: skip
            failing = True
        if _stop.wait(report_interval(settings)):
            return


def start(settings: Settings, *, worker_id: str, queues: list[str]) -> None:
    """Report now and then periodically, in the background of this process."""
    _stop.clear()
    threading.Thread(
        target=_loop, args=(settings, worker_id, queues), daemon=True, name="presence"
    ).start()


def stop() -> None:
    _stop.set()
