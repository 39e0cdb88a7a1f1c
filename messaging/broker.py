"""Waking workers: the one task name, and the one way a job is sent to the broker.

The database is the truth; a message only says "job X may be ready". Sending never raises: a
broker that cannot be reached is logged, and recovery (services.recovery) sends the job later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery
from kombu import Connection
from kombu.exceptions import ChannelError

from config.logs import describe, log_event
from config.settings import Settings

RUN_JOB = "reprogram.run_job"
DELIVER_WEBHOOK = "reprogram.deliver_webhook"
# Sends give up quickly: a request must not hang on a broker that is down, and nothing is lost.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
log = logging.getLogger("reprogram.dispatch")
_clients: dict[tuple[str, str, str], Celery] = {}
_lock = threading.Lock()


def queue_for(settings: Settings, *, accelerator: str) -> str:
    """The queue of jobs for an accelerator kind (the default queue for 'any'), or of webhooks."""
    return settings.queue if accelerator == "any" else f"{settings.queue}-{accelerator}"


def celery_config(settings: Settings) -> dict[str, object]:
    """Celery settings shared by the API (which only sends) and the worker (which runs jobs)."""
    config: dict[str, object] = {
        "broker_url": settings.celery_broker_url,
        "task_default_queue": settings.queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        # A job is acknowledged only when it ends, and goes back to the queue if its worker dies.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
    }
    if settings.broker_url is None:
        folder = settings.embedded_broker_dir
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        config["broker_transport_options"] = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            # Its exchange tables; kombu's default is "control" in the working directory.
            "control_folder": str(folder / "control"),
        }
    else:
        # Long GPU jobs: don't let Redis hand an unacknowledged job to a second worker early;
        # a dead worker's job is resumed by the heartbeat scan long before this.
        config["broker_transport_options"] = {
            "visibility_timeout": 6 * 3600,
            # An unreachable (not just refusing) broker fails a send in seconds, not minutes.
            "socket_connect_timeout": 3,
        }
        # A worker never gives up reconnecting to a broker that is away for a while.
        config["broker_connection_max_retries"] = None
    return config


def celery_client(settings: Settings) -> Celery:
    """A Celery client for the settings' broker (one per broker, reused)."""
    key = (settings.celery_broker_url, str(settings.data_dir), settings.queue)
    with _lock:
        if key not in _clients:
            client = Celery("reprogram-client")
            client.conf.update(celery_config(settings))
            _clients[key] = client
        return _clients[key]


def send_job(settings: Settings, *, job_id: str, queue: str | None = None) -> bool:
    """Wake a worker for a committed job; False (logged) when the broker cannot be reached."""
    target = queue or settings.queue
    try:
        celery_client(settings).send_task(
            RUN_JOB, args=[job_id], queue=target, retry=True, retry_policy=_PUBLISH_RETRY
        )
    except Exception as exc:  # any broker failure: the job is safe in the database
        log_event(
            log, "job not sent: broker unreachable; recovery will send it", level=logging.WARNING,
            job_id=job_id, queue=target, error=describe(exc),
        )  # fmt: skip
        return False
    return True


def send_delivery(settings: Settings, *, delivery_id: str) -> bool:
    """Wake a webhook sender for a committed delivery; False (logged) if the broker is away."""
    queue = queue_for(settings, accelerator="webhooks")
    try:
        celery_client(settings).send_task(
            DELIVER_WEBHOOK,
            args=[delivery_id],
            queue=queue,
            retry=True,
            retry_policy=_PUBLISH_RETRY,
        )
    except Exception as exc:  # any broker failure: the delivery is safe in the database
        log_event(
            log,
            "webhook delivery not sent: broker unreachable; the next scan sends it",
            level=logging.WARNING,
            delivery_id=delivery_id,
            error=describe(exc),
        )
        return False
    return True


@contextmanager
def _connected(settings: Settings) -> Iterator[Connection]:
    """A connection to the broker, or an error within seconds."""
    with celery_client(settings).connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
        yield connection


def queue_depth(settings: Settings, *, queue: str) -> int | None:
    """Messages waiting in a queue of the broker (0 if it has none); None if it can't be asked."""
    try:
        with _connected(settings) as connection, connection.channel() as channel:
            try:
                return int(channel.queue_declare(queue=queue, passive=True).message_count)
            except ChannelError:  # the broker doesn't know the queue: it holds nothing
                return 0
    except Exception as exc:
        log.debug("could not read the depth of queue %s: %s", queue, exc)
        return None


def broker_problem(settings: Settings) -> str | None:
    """Why the broker can't be reached, or None when it answers (for /readyz)."""
    try:
        with _connected(settings):
            return None
    except Exception as exc:
        return describe(exc)
