"""The Celery app of the workers (one solo-pool process per GPU: CUDA and fork don't mix)."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_ready, worker_shutdown, worker_shutting_down

from config.logs import configure_logging, log_event, quiet_celery_warnings
from config.settings import Settings, get_settings
from messaging.broker import celery_config, queue_for

quiet_celery_warnings()
app = Celery("reprogram")
app.conf.update(celery_config(get_settings()))
app.conf.update(include=["worker.tasks", "worker.webhooks"])
log = logging.getLogger("reprogram.worker")


@setup_logging.connect
def _logging(loglevel: str | int | None = None, **_: Any) -> None:
    configure_logging(get_settings(), level=loglevel)  # ours, instead of Celery's


# The kinds of job this process takes (`reprogram worker --queues`); default: any, and its own.
_kinds: list[str] = []


def queues_for(settings: Settings, kinds: list[str]) -> list[str]:
    """The broker queues a worker taking these kinds of job consumes."""
    return [queue_for(settings, accelerator=kind) for kind in kinds]


def check_kinds(kinds: list[str]) -> list[str]:
    """The kinds a worker may serve, defaulted; a kind its device lacks is refused."""
    from worker.device import this_device

    device = this_device()
    kinds = [device.kind if kind == "own" else kind for kind in kinds or ["any", "own"]]
    kinds = list(dict.fromkeys(kinds))  # each once, in the order given
    unknown = sorted(set(kinds) - {"any", "cpu", "cuda", "webhooks"})
    if unknown:
        raise SystemExit(
            f"unknown queue kind(s) {', '.join(unknown)}; use any, cpu, cuda or webhooks"
        )
    if "cuda" in kinds and device.kind != "cuda":
        raise SystemExit(
            "this worker has no CUDA device, so it cannot take jobs that need one: drop 'cuda' "
            "from --queues (or make a GPU visible)"
        )
    return kinds


@worker_ready.connect
def _ready(sender: Any, **_: Any) -> None:
    from services.recovery import start_recovery_thread
    from worker import calibration, presence
    from worker.device import this_device

    settings = get_settings()
    quiet_celery_warnings()  # again: Celery's logging setup put its own filters first
    start_recovery_thread(settings)
    queues = queues_for(settings, _kinds or check_kinds([]))
    worker_id = f"{getattr(sender, 'hostname', None) or socket.gethostname()}/{os.getpid()}"
    presence.start(settings, worker_id=worker_id, queues=queues)
    calibration.start(settings)
    device = this_device()
    log_event(log, "worker ready", hostname=getattr(sender, "hostname", None),
              queues=",".join(queues), device=f"{device.kind}: {device.name}",
              memory_gb=device.memory_gb)  # fmt: skip


@worker_shutting_down.connect
def _shutting_down(**_: Any) -> None:
    from worker.lifecycle import on_shutting_down

    on_shutting_down(get_settings())


@worker_shutdown.connect
def _stopped(**_: Any) -> None:
    from services.recovery import stop_recovery_thread
    from worker import calibration, presence

    stop_recovery_thread()
    presence.stop()
    calibration.stop()
    log_event(log, "worker stopped")


def run_worker(
    *, hostname: str | None = None, loglevel: str | None = None, kinds: list[str] | None = None
) -> None:
    """Start a worker process: solo pool, one job at a time, on the queues of its kinds."""
    settings = get_settings()
    level = (loglevel or settings.log_level).upper()
    _kinds[:] = check_kinds(kinds or [])
    queues = ",".join(queues_for(settings, _kinds))
    # Jobs take a whole device, one at a time; webhook deliveries are small and wait on I/O.
    pool = (
        ["--pool=threads", "--concurrency=8"]
        if _kinds == ["webhooks"]
        else ["--pool=solo", "--concurrency=1"]
    )
    argv = ["--quiet", "worker", *pool, f"--queues={queues}"]
    argv += [f"--loglevel={level}", "--without-gossip", "--without-mingle"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)
