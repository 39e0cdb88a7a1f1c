"""The Celery app of the workers (one solo-pool process per GPU: CUDA and fork don't mix)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_ready, worker_shutdown, worker_shutting_down

from config.logs import configure_logging, log_event, quiet_celery_warnings
from config.settings import get_settings
from messaging.broker import celery_config

quiet_celery_warnings()
app = Celery("reprogram")
app.conf.update(celery_config(get_settings()))
app.conf.update(include=["worker.tasks"])
log = logging.getLogger("reprogram.worker")


@setup_logging.connect
def _logging(loglevel: str | int | None = None, **_: Any) -> None:
    configure_logging(get_settings(), level=loglevel)  # ours, instead of Celery's


@worker_ready.connect
def _ready(sender: Any, **_: Any) -> None:
    from services.recovery import start_recovery_thread

    settings = get_settings()
    quiet_celery_warnings()  # again: Celery's logging setup put its own filters first
    start_recovery_thread(settings)
    log_event(log, "worker ready", hostname=getattr(sender, "hostname", None),
              queue=settings.queue)  # fmt: skip


@worker_shutting_down.connect
def _shutting_down(**_: Any) -> None:
    from worker.lifecycle import on_shutting_down

    on_shutting_down(get_settings())


@worker_shutdown.connect
def _stopped(**_: Any) -> None:
    from services.recovery import stop_recovery_thread

    stop_recovery_thread()
    log_event(log, "worker stopped")


def run_worker(*, hostname: str | None = None, loglevel: str | None = None) -> None:
    """Start a worker process: solo pool, one job at a time, on the service's queue."""
    settings = get_settings()
    level = (loglevel or settings.log_level).upper()
    argv = ["--quiet", "worker", "--pool=solo", "--concurrency=1", f"--queues={settings.queue}"]
    argv += [f"--loglevel={level}", "--without-gossip", "--without-mingle"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)
