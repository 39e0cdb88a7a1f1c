"""Logs an operator can read: one line per thing that happened, with the job it happened to.

`log_event(log, "job claimed", job_id=..., attempt=2)` prints
`2026-11-29T15:16:31Z INFO reprogram.worker job claimed job_id=job_… attempt=2`, or one JSON
object per line with REPROGRAM_LOG_FORMAT=json.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from typing import Any

from config.settings import Settings

_FIELDS = "reprogram_fields"
# Chatty at INFO: connection banners and a line per task, which our own job lines replace.
_QUIET = ("celery", "kombu", "amqp", "alembic")


def log_event(
    log: logging.Logger, message: str, *, level: int = logging.INFO, **fields: Any
) -> None:
    """Log one event with key=value fields (job_id, attempt, queue, ...)."""
    log.log(level, message, extra={_FIELDS: fields})


def describe(error: BaseException) -> str:
    """An exception in one short line: its type and the first line of its message."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return dict(getattr(record, _FIELDS, None) or {})


def _value(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return json.dumps(text) if (" " in text or "=" in text or not text) else text


class TextFormatter(logging.Formatter):
    """`time level logger message key=value ...`, in UTC."""

    converter = staticmethod(time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        stamp = self.formatTime(record, "%Y-%m-%dT%H:%M:%SZ")
        line = f"{stamp} {record.levelname} {record.name} {record.getMessage()}"
        extra = " ".join(f"{k}={_value(v)}" for k, v in _fields(record).items())
        if extra:
            line += " " + extra
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(settings: Settings, *, level: str | int | None = None) -> None:
    """Send every logger to stderr in the configured format; third-party chatter only if WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level or settings.log_level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    quiet_celery_warnings()


def quiet_celery_warnings() -> None:
    """Drop Celery's warnings that say nothing about our deployment."""
    # At every start when run as root (as in containers); and a notice about a Celery 6 default
    # (we keep acks_late tasks running on a broker reconnect: the claim makes redelivery safe).
    warnings.filterwarnings("ignore", message=r"(?s).*superuser privileges")
    warnings.filterwarnings("ignore", message=r"(?s)\s*In Celery 5.1 we introduced")
