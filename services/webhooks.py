"""Signed webhooks (Standard Webhooks): endpoints per owner, deliveries retried, a log of each.

A job's status change writes its deliveries in the same transaction (db.webhooks). They are sent
by name to the webhook queue after the commit (services.enqueue), and every worker's recovery
scan sends again any that are due, so a lost message only delays a delivery.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from config.logs import describe, log_event
from config.settings import Settings
from db import webhooks
from db.models import WebhookDelivery, WebhookEndpoint, utcnow
from db.repository import OwnedRepository
from db.session import session_scope
from messaging.broker import send_delivery
from services.errors import Invalid
from services.owned import owned

log = logging.getLogger("reprogram.webhooks")
# Re-sent by the scan only if its message seems lost: a queued delivery is left alone this long.
_LEASE = timedelta(seconds=30)


def create(
    session: Session, *, owner_id: str, url: str, description: str | None = None
) -> WebhookEndpoint:
    """A new endpoint for the owner; its secret is readable only in this response."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("invalid_request", "the url must be http:// or https:// with a host",
                      field="url")  # fmt: skip
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    endpoint = WebhookEndpoint(owner_id=owner_id, url=url, secret=secret, description=description)
    session.add(endpoint)
    session.flush()
    return endpoint


def get(session: Session, *, owner_id: str, endpoint_id: str) -> WebhookEndpoint:
    """One of the owner's endpoints."""
    return owned(session, WebhookEndpoint, owner_id=owner_id, id=endpoint_id)


def list_endpoints(session: Session, *, owner_id: str) -> list[WebhookEndpoint]:
    """The owner's endpoints, oldest first."""
    query = OwnedRepository(session, WebhookEndpoint, owner_id=owner_id).readable()
    return list(session.scalars(query.order_by(WebhookEndpoint.created_at)))


def delete(session: Session, *, owner_id: str, endpoint_id: str) -> None:
    """Remove an endpoint and its log."""
    session.delete(get(session, owner_id=owner_id, endpoint_id=endpoint_id))
    session.flush()


def enable(session: Session, *, owner_id: str, endpoint_id: str) -> WebhookEndpoint:
    """Turn a disabled endpoint back on, its failure count reset."""
    endpoint = get(session, owner_id=owner_id, endpoint_id=endpoint_id)
    endpoint.enabled, endpoint.failures, endpoint.disabled_reason = True, 0, None
    session.flush()
    return endpoint


def deliveries(
    session: Session, *, owner_id: str, endpoint_id: str, limit: int
) -> list[WebhookDelivery]:
    """An endpoint's log, newest first: each delivery and how it went, and its disabling."""
    get(session, owner_id=owner_id, endpoint_id=endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    order = (WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    return list(session.scalars(query.order_by(*order).limit(limit)))


def deliver(settings: Settings, *, delivery_id: str) -> str:
    """Make one attempt at a pending delivery and record how it went; the delivery's status."""
    with session_scope(settings.sqlalchemy_url) as session:
        taken = webhooks.take(session, delivery_id=delivery_id)
        if taken is None:
            return "skipped"  # done, or another sender holds it
        delivery, endpoint = taken
        if not endpoint.enabled:
            delivery.status, delivery.last_error, delivery.next_attempt_at = (
                "failed", "endpoint disabled", None)  # fmt: skip
            return delivery.status
        error = _post(settings, delivery=delivery, endpoint=endpoint)
        _record(session, settings, delivery=delivery, endpoint=endpoint, error=error)
        return delivery.status


def _post(
    settings: Settings, *, delivery: WebhookDelivery, endpoint: WebhookEndpoint
) -> str | None:
    """POST the signed message; None on a 2xx, else what went wrong."""
    body = json.dumps(delivery.payload, separators=(",", ":"))
    now = utcnow()
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(delivery.id, now, body),
    }
    delivery.attempts += 1
    try:
        response = httpx.post(endpoint.url, content=body, headers=headers,
                              timeout=settings.webhook_timeout_s)  # fmt: skip
    except httpx.HTTPError as exc:
        return describe(exc)
    delivery.last_status = response.status_code
    return None if response.is_success else f"HTTP {response.status_code}"


def _record(
    session: Session, settings: Settings, *, delivery: WebhookDelivery, endpoint: WebhookEndpoint,
    error: str | None,
) -> None:  # fmt: skip
    now = utcnow()
    if error is None:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
        delivery.last_error, endpoint.failures = None, 0
        return
    delivery.last_error = error
    endpoint.failures += 1
    if delivery.attempts >= settings.webhook_max_attempts:
        delivery.status, delivery.next_attempt_at = "failed", None
    else:
        wait = settings.webhook_retry_base_s * 2 ** (delivery.attempts - 1)
        delivery.next_attempt_at = now + timedelta(seconds=min(wait, 6 * 3600))
    log_event(log, "webhook delivery failed", level=logging.WARNING, delivery_id=delivery.id,
              endpoint_id=endpoint.id, attempt=delivery.attempts, error=error)  # fmt: skip
    if endpoint.enabled and endpoint.failures >= settings.webhook_disable_after:
        reason = f"disabled after {endpoint.failures} failed attempts in a row (last: {error})"
        endpoint.enabled, endpoint.disabled_reason = False, reason
        session.flush()
        webhooks.fail_pending(session, endpoint_id=endpoint.id, reason="endpoint disabled")
        webhooks.log_entry(session, endpoint_id=endpoint.id, type="endpoint.disabled",
                           message=reason)  # fmt: skip
        log_event(log, "webhook endpoint disabled", level=logging.WARNING,
                  endpoint_id=endpoint.id, reason=reason)  # fmt: skip


def send_due(settings: Settings) -> int:
    """Send every delivery whose time has come (first tries lost in transit, and retries)."""
    with session_scope(settings.sqlalchemy_url) as session:
        due = webhooks.due(session, now=utcnow())
        for delivery in due:
            delivery.next_attempt_at = utcnow() + _LEASE
        ids = [delivery.id for delivery in due]
    # Sent only once the lease is committed: a sender taking a message sent while these rows were
    # still locked would skip it as held, and the delivery would wait out the lease for nothing.
    # A send lost here is sent again by the first scan after the lease.
    sent = 0
    for delivery_id in ids:
        if not send_delivery(settings, delivery_id=delivery_id):
            break  # the broker is away: these wait out their lease
        sent += 1
    return sent
