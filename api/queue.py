"""Sending jobs to the workers by task name (the API never imports the worker's code)."""

from __future__ import annotations

from celery import Celery

from db.settings import Settings, celery_config

RUN_JOB = "reprogram.run_job"
_clients: dict[tuple[str, str, str], Celery] = {}


def client_for(settings: Settings) -> Celery:
    """A Celery client for the settings' broker (one per broker, reused)."""
    key = (settings.celery_broker_url, str(settings.data_dir), settings.queue)
    if key not in _clients:
        client = Celery("reprogram-api")
        client.conf.update(celery_config(settings))
        _clients[key] = client
    return _clients[key]


def enqueue_job(settings: Settings, job_id: str) -> None:
    """Put a committed job on the queue."""
    client_for(settings).send_task(RUN_JOB, args=[job_id], queue=settings.queue)


def broker_reachable(settings: Settings) -> bool:
    """Whether the broker answers (for /readyz)."""
    try:
        with client_for(settings).connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False
