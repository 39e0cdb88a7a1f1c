"""Webhook endpoints: register (the secret is shown once), list, enable, delete, and their logs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api import schemas
from api.deps import OwnerDep, SessionDep
from api.errors import responses
from services import webhooks

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=responses(401, 422, 503))


@router.post(
    "", status_code=201, response_model=schemas.WebhookCreated, responses=responses(400, 413)
)
def create_webhook(
    body: schemas.WebhookCreate, owner: OwnerDep, session: SessionDep
) -> schemas.WebhookCreated:
    """Send this owner's job state changes to a URL, signed; the response holds the secret."""
    endpoint = webhooks.create(
        session, owner_id=owner.id, url=body.url, description=body.description
    )
    return schemas.WebhookCreated.model_validate(endpoint)


@router.get("", response_model=schemas.WebhookList)
def list_webhooks(owner: OwnerDep, session: SessionDep) -> schemas.WebhookList:
    """The caller's endpoints (without their secrets)."""
    rows = webhooks.list_endpoints(session, owner_id=owner.id)
    return schemas.WebhookList(data=[schemas.Webhook.model_validate(r) for r in rows])


@router.get("/{webhook_id}", response_model=schemas.Webhook, responses=responses(404))
def get_webhook(webhook_id: str, owner: OwnerDep, session: SessionDep) -> schemas.Webhook:
    """One endpoint: whether it is enabled, and why not."""
    endpoint = webhooks.get(session, owner_id=owner.id, endpoint_id=webhook_id)
    return schemas.Webhook.model_validate(endpoint)


@router.post("/{webhook_id}/enable", response_model=schemas.Webhook, responses=responses(404))
def enable_webhook(webhook_id: str, owner: OwnerDep, session: SessionDep) -> schemas.Webhook:
    """Turn a disabled endpoint back on."""
    endpoint = webhooks.enable(session, owner_id=owner.id, endpoint_id=webhook_id)
    return schemas.Webhook.model_validate(endpoint)


@router.delete("/{webhook_id}", status_code=204, responses=responses(404))
def delete_webhook(webhook_id: str, owner: OwnerDep, session: SessionDep) -> Response:
    """Stop sending to an endpoint and drop its log."""
    webhooks.delete(session, owner_id=owner.id, endpoint_id=webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries", response_model=schemas.DeliveryList, responses=responses(404)
)
def list_deliveries(
    webhook_id: str,
    owner: OwnerDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> schemas.DeliveryList:
    """The endpoint's log, newest first: each message, its attempts and outcome."""
    rows = webhooks.deliveries(session, owner_id=owner.id, endpoint_id=webhook_id, limit=limit)
    return schemas.DeliveryList(data=[schemas.WebhookDelivery.model_validate(r) for r in rows])
