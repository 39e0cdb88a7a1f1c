"""When a job will finish: from similar past jobs at submission, then from its own pace.

A job's `shape` hashes everything in its spec that decides how long an epoch takes (backbone,
method and its sizes, dataset and its caps, batch size, the queue and so the device kind), and
its `family` only backbone, method kind, input size and queue. A submitted job's seconds per
epoch is the median of the last similar jobs that succeeded: same shape, else same family.
While it runs, each epoch replaces that with the job's own pace.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Job
from reprogram.statuses import JobStatus

_SAMPLES = 10  # the most recent similar jobs that count
_PACE_FREE = ("name", "seed", "lr", "epochs", "weight_decay", "label_smoothing")


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def shape_of(spec: dict[str, Any], *, queue: str | None) -> tuple[str, str]:
    """(shape, family) of a stored spec on a queue."""
    hyper = {k: v for k, v in spec.get("hyperparameters", {}).items() if k not in _PACE_FREE}
    method = spec.get("method", {})
    exact = {"backbone": spec.get("backbone"), "dataset": spec.get("dataset"), "method": method,
             "hyperparameters": hyper, "queue": queue}  # fmt: skip
    size = method.get("input_size") or method.get("canvas_size") or method.get("image_size")
    coarse = {"backbone": spec.get("backbone"), "method": method.get("kind"), "size": size,
              "queue": queue}  # fmt: skip
    return _digest(exact), _digest(coarse)


def seconds_per_epoch(session: Session, *, shape: str, family: str) -> float | None:
    """The median pace of the last similar jobs that succeeded, or None if there are none."""
    for column, value in ((Job.shape, shape), (Job.family, family)):
        paces = session.scalars(
            select(Job.seconds_per_epoch)
            .where(
                column == value,
                Job.status == JobStatus.SUCCEEDED,
                Job.seconds_per_epoch.is_not(None),
            )
            .order_by(Job.finished_at.desc())
            .limit(_SAMPLES)
        ).all()
        if paces:
            return float(statistics.median(p for p in paces if p is not None))
    return None


def estimate_new(session: Session, *, job: Job) -> None:
    """Give a just-created job its shape and, from similar jobs, its predicted run time."""
    job.shape, job.family = shape_of(job.spec, queue=job.queue)
    pace = seconds_per_epoch(session, shape=job.shape, family=job.family)
    if pace is not None:
        epochs = int(job.spec.get("hyperparameters", {}).get("epochs", 10))
        job.estimated_seconds = pace * epochs
        job.estimated_finish_at = job.created_at + timedelta(seconds=job.estimated_seconds)
    session.flush()


def finish_at(*, now: datetime, pace_s: float, epochs_left: int) -> datetime:
    """When a job at this pace ends."""
    return now + timedelta(seconds=pace_s * max(0, epochs_left))
