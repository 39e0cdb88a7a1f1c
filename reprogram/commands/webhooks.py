"""`reprogram webhooks create | list | get | enable | delete | deliveries`."""

from __future__ import annotations

import sys
from typing import Any

from reprogram.client import Client, Delivery, Webhook
from reprogram.commands.exits import Exit
from reprogram.commands.formatting import local_time
from reprogram.commands.output import (
    plain,
    print_deleted,
    print_fields,
    print_json,
    print_listing,
    print_one,
)

# The service answers at most this many deliveries at once.
_MAX_DELIVERIES = 500


def webhooks_create(
    client: Client, *, webhook_url: str, description: str | None, as_json: bool
) -> int:
    """Register an endpoint for this owner's job status changes; print its secret, shown once."""
    webhook = client.webhooks.create(webhook_url, description=description)
    if as_json:
        print_json(plain(webhook))
        return Exit.OK
    print_fields([*_webhook_fields(webhook), ("secret", webhook.secret)])
    print("\nthe secret is shown only this once: keep it to verify each message's "
          "webhook-signature", file=sys.stderr)  # fmt: skip
    return Exit.OK


def webhooks_list(client: Client, *, as_json: bool) -> int:
    """Print this owner's endpoints."""
    headers = ("ID", "URL", "ENABLED", "FAILURES", "DESCRIPTION", "CREATED")

    def row(w: Webhook) -> tuple[Any, ...]:
        return (w.id, w.url, "yes" if w.enabled else "no", str(w.failures),
                w.description or "-", local_time(w.created_at))  # fmt: skip

    return print_listing(client.webhooks.list(), limit=0, as_json=as_json, headers=headers,
                         row=row, empty="no webhooks")  # fmt: skip


def webhooks_get(client: Client, *, webhook_id: str, as_json: bool) -> int:
    """Print one endpoint: whether it is enabled, and why not."""
    return print_one(client.webhooks.get(webhook_id), fields=_webhook_fields, as_json=as_json)


def webhooks_enable(client: Client, *, webhook_id: str, as_json: bool) -> int:
    """Turn a disabled endpoint back on."""
    webhook = client.webhooks.enable(webhook_id)
    if as_json:
        print_json(plain(webhook))
    else:
        print(f"enabled webhook {webhook.id}")
    return Exit.OK


def webhooks_delete(client: Client, *, webhook_id: str, as_json: bool) -> int:
    """Stop sending to an endpoint and drop its log."""
    client.webhooks.delete(webhook_id)
    return print_deleted("webhook", webhook_id, as_json=as_json)


def webhooks_deliveries(client: Client, *, webhook_id: str, limit: int, as_json: bool) -> int:
    """Print an endpoint's log, newest first: each message, its attempts and outcome."""
    headers = ("ID", "TYPE", "STATUS", "ATTEMPTS", "HTTP", "CREATED", "LAST ERROR")

    def row(d: Delivery) -> tuple[Any, ...]:
        return (d.id, d.type, d.status, str(d.attempts), str(d.last_status or "-"),
                local_time(d.created_at), d.last_error or "")  # fmt: skip

    # One more than shown, so that has_more can be told.
    deliveries = client.webhooks.deliveries(webhook_id, limit=min(limit + 1, _MAX_DELIVERIES))
    return print_listing(deliveries, limit=limit, as_json=as_json, headers=headers, row=row,
                         empty="no deliveries yet")  # fmt: skip


def _webhook_fields(webhook: Webhook) -> list[tuple[str, Any]]:
    """What `webhooks get` and `webhooks create` show."""
    return [
        ("id", webhook.id), ("url", webhook.url), ("description", webhook.description),
        ("enabled", "yes" if webhook.enabled else "no"),
        ("disabled because", webhook.disabled_reason), ("failures in a row", webhook.failures),
        ("created", local_time(webhook.created_at)),
    ]  # fmt: skip
