"""Webhook endpoints and their deliveries: an outbox written in the same transaction as the change.

A job's status change and the deliveries announcing it commit together, so none is lost or
sent for a change that rolled back; `OUTBOX` in the session's info lists the new deliveries
for whoever sends them after the commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import Job, WebhookDelivery, WebhookEndpoint, utcnow

OUTBOX = "reprogram.deliveries"


def announce_status(session: Session, *, job_id: str, message: str) -> None:
    """Queue a `job.<status>` delivery to each enabled endpoint of the job's owner."""
    row = session.execute(
        select(Job.owner_id, Job.status, Job.model_id, Job.error, Job.epoch).where(Job.id == job_id)
    ).one_or_none()
    if row is None:
        return
    endpoints = session.scalars(
        select(WebhookEndpoint.id).where(
            WebhookEndpoint.owner_id == row.owner_id, WebhookEndpoint.enabled.is_(True)
        )
    ).all()
    if not endpoints:
        return
    status = message.split(":", 1)[0]
    data = {"job_id": job_id, "status": status, "message": message, "model_id": row.model_id,
            "error": row.error, "epoch": row.epoch}  # fmt: skip
    payload = {"type": f"job.{status}", "timestamp": utcnow().isoformat(), "data": data}
    deliveries = [
        WebhookDelivery(endpoint_id=endpoint, type=f"job.{status}", payload=payload)
        for endpoint in endpoints
    ]
    session.add_all(deliveries)
    session.flush()
    session.info.setdefault(OUTBOX, []).extend(d.id for d in deliveries)


def log_entry(session: Session, *, endpoint_id: str, type: str, message: str) -> None:
    """A line in an endpoint's log that is not a delivery (e.g. it was disabled)."""
    session.add(
        WebhookDelivery(
            endpoint_id=endpoint_id,
            type=type,
            status="event",
            next_attempt_at=None,
            payload={"type": type, "timestamp": utcnow().isoformat(), "data": {"message": message}},
        )
    )
    session.flush()


def due(session: Session, *, now: datetime, limit: int = 200) -> list[WebhookDelivery]:
    """Pending deliveries whose time has come, locked until commit (concurrent scans skip them)."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def take(session: Session, *, delivery_id: str) -> tuple[WebhookDelivery, WebhookEndpoint] | None:
    """A pending delivery and its endpoint, locked for this sender; None if taken or done."""
    delivery = session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending")
        .with_for_update(skip_locked=True)
    )
    if delivery is None:
        return None
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    return None if endpoint is None else (delivery, endpoint)


def fail_pending(session: Session, *, endpoint_id: str, reason: str) -> None:
    """Give up every pending delivery of an endpoint (it was disabled)."""
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "pending")
        .values(status="failed", last_error=reason, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )


def payload_of(delivery: WebhookDelivery) -> dict[str, Any]:
    return dict(delivery.payload)
