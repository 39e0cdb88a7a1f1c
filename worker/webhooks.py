"""The webhook task: one delivery attempt (run by a worker taking the 'webhooks' kind)."""

from __future__ import annotations

from config.settings import get_settings
from messaging.broker import DELIVER_WEBHOOK
from services.webhooks import deliver
from worker.app import app


@app.task(name=DELIVER_WEBHOOK)
def deliver_webhook_task(delivery_id: str) -> str:
    """Attempt the delivery (a repeated message finds it done, or held, and does nothing)."""
    return deliver(get_settings(), delivery_id=delivery_id)
