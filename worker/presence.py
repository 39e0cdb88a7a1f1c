"""A worker's presence in the database: what it is, what it serves, what it runs now."""

from __future__ import annotations

import logging
import threading

from config.settings import Settings
from db import workers
from db.session import run_transaction
from services.periodic import run_every
from worker import calibration
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
            memory_gb=device.memory_gb, queues=queues, calibration=calibration.current(),
        ),
        url=settings.sqlalchemy_url,
    )  # fmt: skip


def _loop(settings: Settings, worker_id: str, queues: list[str]) -> None:
    run_every(
        interval=report_interval(settings), stop=_stop, what="presence report", log=log,
        action=lambda: report(settings, worker_id=worker_id, queues=queues),
    )  # fmt: skip


def start(settings: Settings, *, worker_id: str, queues: list[str]) -> None:
    """Report now and then periodically, in the background of this process."""
    _stop.clear()
    threading.Thread(
        target=_loop, args=(settings, worker_id, queues), daemon=True, name="presence"
    ).start()


def stop() -> None:
    _stop.set()
