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

from config.settings import Settings
from db import workers
from db.models import Dataset, Job, utcnow
from reprogram.statuses import JobStatus
from reprogramming.data import DATASETS

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


def estimate_new(session: Session, *, settings: Settings, job: Job) -> None:
    """Give a just-created job its shape and its predicted run time: from similar jobs, else
    from the startup calibration of the live workers of its queue."""
    job.shape, job.family = shape_of(job.spec, queue=job.queue)
    pace = seconds_per_epoch(session, shape=job.shape, family=job.family)
    if pace is not None:
        job.estimated_seconds = pace * _epochs(job.spec)
    else:
        job.estimated_seconds = from_calibration(session, settings=settings, job=job)
    if job.estimated_seconds is not None:
        job.estimated_finish_at = job.created_at + timedelta(seconds=job.estimated_seconds)
    session.flush()


def _epochs(spec: dict[str, Any]) -> int:
    return int(spec.get("hyperparameters", {}).get("epochs", 10))


# The calibration's network and input side: each worker times it at startup (worker.calibration).
REFERENCE_BACKBONE, REFERENCE_SIZE, SMALL_SIZE = "efficientnet_lite0", 224, 64
# What training costs beyond the input-gradient pass the calibration times: finetuning also
# computes every weight's gradient and steps the optimiser.
_WEIGHT_GRADIENTS = 1.5


def from_calibration(session: Session, *, settings: Settings, job: Job) -> float | None:
    """Seconds the job should take on a live worker of its queue, from the images it will see
    and that worker's measured seconds per image; None when either is unknown.

    A first-order model: a job pays the setup the worker measured (loading the weights), then per
    image a fixed cost plus one in proportion to the input's area (fitted through the two sides
    the worker timed); the reference
    network stands in for any backbone; a linear probe pays one forward pass per image
    (features are cached), a program or finetune one forward and backward pass per training
    image and epoch.
    """
    since = utcnow() - timedelta(seconds=settings.heartbeat_timeout_s)
    measured = workers.calibrations(session, queue=job.queue or settings.queue, seen_since=since)
    counts = _images(session, job=job)
    if not measured or counts is None:
        return None
    method = job.spec.get("method", {})
    side = method.get("input_size") or method.get("canvas_size") or REFERENCE_SIZE

    def cost(key: str) -> float:  # seconds per image at this side, the median worker's
        return statistics.median(_per_image(m, key, side) for m in measured)

    forward, backward = cost("forward_s"), cost("backward_s")
    setup = statistics.median(m.get("setup_s", 0.0) for m in measured)
    train, val, test = counts
    kind = method.get("kind")
    if kind == "linear_probe":
        return setup + forward * (train + val + test)
    step = backward * (_WEIGHT_GRADIENTS if kind in ("finetune", "scratch") else 1.0)
    return setup + _epochs(job.spec) * (train * step + val * forward) + test * forward


def _per_image(measured: dict[str, float], key: str, side: int) -> float:
    """Seconds per image at a side: a fixed part plus one in proportion to the area, fitted
    through the two sides the worker timed."""
    big, small = measured[key], measured.get(f"{key}_small")
    if small is None:  # an older worker's single measurement: cost in proportion to area
        return big * (side / REFERENCE_SIZE) ** 2
    per_pixel = max(0.0, (big - small) / (REFERENCE_SIZE**2 - SMALL_SIZE**2))
    fixed = max(0.0, small - per_pixel * SMALL_SIZE**2)
    return fixed + per_pixel * side**2


def _images(session: Session, *, job: Job) -> tuple[float, float, float] | None:
    """About how many (train, val, test) images the job's dataset spec gives, if that is known."""
    dataset = job.spec.get("dataset", {})
    if dataset.get("upload_id"):
        row = session.get(Dataset, dataset["upload_id"])
        facts = {"images": row.num_images, "classes": len(row.classes)} if row else {}
    elif dataset.get("name") in DATASETS:
        facts = DATASETS.get(dataset["name"]).facts
    else:
        facts = {}
    if "images" not in facts or not facts.get("classes"):
        return None
    classes = len(dataset.get("classes") or []) or facts["classes"]
    images = facts["images"] * classes / facts["classes"]
    test_share, val_share = dataset.get("test_fraction", 0.2), dataset.get("val_fraction", 0.1)
    pool = images * (1 - test_share)
    train, val, test = pool * (1 - val_share), pool * val_share, images * test_share
    if cap := dataset.get("max_per_class"):
        train = min(train, cap * classes)
        val = min(val, max(1, round(cap * val_share / (1 - val_share))) * classes)
    if cap := dataset.get("test_max_per_class"):
        test = min(test, cap * classes)
    return train, val, test


def finish_at(*, now: datetime, pace_s: float, epochs_left: int) -> datetime:
    """When a job at this pace ends."""
    return now + timedelta(seconds=pace_s * max(0, epochs_left))
