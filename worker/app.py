"""The Celery app of the workers (one solo-pool process per GPU: CUDA and fork don't mix)."""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from db.settings import celery_config, get_settings

app = Celery("reprogram")
app.conf.update(celery_config(get_settings()))
app.conf.update(include=["worker.tasks"])


@worker_ready.connect
def _start_recovery(sender, **_: object) -> None:  # type: ignore[no-untyped-def]
    from worker.recovery import start_recovery_thread

    start_recovery_thread()


@worker_shutdown.connect
def _stop_recovery(sender, **_: object) -> None:  # type: ignore[no-untyped-def]
    from worker.recovery import stop_recovery_thread

    stop_recovery_thread()


def run_worker(*, hostname: str | None = None, loglevel: str = "INFO") -> None:
    """Start a worker process: solo pool, one job at a time, on the service's queue."""
    settings = get_settings()
    argv = ["worker", "--pool=solo", "--concurrency=1", f"--queues={settings.queue}"]
    argv += [f"--loglevel={loglevel}", "--without-gossip", "--without-mingle"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)
