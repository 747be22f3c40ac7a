"""Webhook endpoints: made with a secret shown once, scoped to a merchant (or an admin's, hearing
everything), disabled after a day of failures with a notice to their owner, enabled again,
deleted; and the owner's "send again" and "send a test event"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.cards.codes import CodeVault
from portal.errors import NotFound, ValidationError
from portal.events.catalogue import EVENT_TYPES
from portal.events.deliveries import remember
from portal.events.signing import new_secret
from portal.events.transport import check_url
from portal.ledger import Actor, audit
from portal.models import User, utcnow
from portal.models.events import WebhookDelivery, WebhookEndpoint
from portal.notifications.outbox import queue_email

MAX_ENDPOINTS = 10  # per merchant, and for admins


@dataclass
class NewEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # in full: show it once


def check_event_types(chosen: list[str] | None) -> list[str]:
    """The chosen types in catalogue order. Raise ValidationError if none or an unknown one."""
    chosen = list(chosen or [])
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise ValidationError(f"There is no event type called {unknown[0]}", field="event_types")
    if not chosen:
        raise ValidationError("Choose at least one kind of event to send", field="event_types")
    return [t for t in EVENT_TYPES if t in chosen]


def _scoped(merchant_id: int | None):
    """Endpoints of one merchant, or the admins' own (merchant_id None)."""
    if merchant_id is None:
        return WebhookEndpoint.merchant_id.is_(None)
    return WebhookEndpoint.merchant_id == merchant_id


def create_endpoint(
    session: Session,
    vault: CodeVault,
    *,
    url: str,
    event_types: list[str] | None,
    merchant_id: int | None,
    actor: Actor,
    allow_private: bool,
) -> NewEndpoint:
    """Add an endpoint for a merchant's events (or, with no merchant, for every event).

    Raise ValidationError for a URL it may not have (see ``check_url``), no or unknown event
    types, or more than MAX_ENDPOINTS in the scope.
    """
    url = check_url(url, allow_private=allow_private)
    types = check_event_types(event_types)
    count = session.scalar(sa.select(sa.func.count(WebhookEndpoint.id)).where(_scoped(merchant_id)))
    if count >= MAX_ENDPOINTS:
        raise ValidationError(f"There can be at most {MAX_ENDPOINTS} endpoints; delete one first", field="url")
    secret = new_secret()
    endpoint = WebhookEndpoint(
        merchant_id=merchant_id, created_by_id=actor.user_id, url=url, event_types=types,
        secret_ciphertext=vault.encrypt(secret), status="enabled",
    )
    session.add(endpoint)
    session.flush()
    audit(session, actor, "webhook.created", f"webhook:{endpoint.id}", url=url, event_types=types)
    return NewEndpoint(endpoint, secret)


def endpoints_of(session: Session, merchant_id: int | None) -> list[WebhookEndpoint]:
    """A merchant's endpoints (or the admins'), oldest first."""
    return list(session.scalars(sa.select(WebhookEndpoint).where(_scoped(merchant_id)).order_by(WebhookEndpoint.id)))


def find_endpoint(session: Session, endpoint_id: int, merchant_id: int | None) -> WebhookEndpoint:
    """One endpoint of the scope. Raise NotFound for any other (another merchant's looks absent)."""
    endpoint = session.scalar(sa.select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, _scoped(merchant_id)))
    if endpoint is None:
        raise NotFound("There is no such webhook endpoint")
    return endpoint


def deliveries_of(session: Session, endpoint: WebhookEndpoint, *, limit: int = 50) -> list[WebhookDelivery]:
    """The endpoint's delivery log, newest first."""
    return list(
        session.scalars(
            sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id.desc()).limit(limit)
        )
    )


def _new_delivery(session: Session, endpoint: WebhookEndpoint, event_id: int | None) -> WebhookDelivery:
    delivery = WebhookDelivery(endpoint_id=endpoint.id, event_id=event_id, status="pending", attempts=0)
    session.add(delivery)
    session.flush()
    remember(session, [delivery.id])
    return delivery


def send_test(session: Session, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for the endpoint (also while it is disabled: to check a fix)."""
    return _new_delivery(session, endpoint, None)


def send_again(session: Session, endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    """Queue the event of an earlier delivery once more, as a new delivery in the log.

    Raise NotFound if the delivery is not the endpoint's, ValidationError while the endpoint is
    disabled or if the delivery is still on its way.
    """
    earlier = session.get(WebhookDelivery, delivery_id)
    if earlier is None or earlier.endpoint_id != endpoint.id:
        raise NotFound("This endpoint has no such delivery")
    if endpoint.status != "enabled":
        raise ValidationError("Enable the endpoint again before sending events to it")
    if earlier.status in ("pending", "sending"):
        raise ValidationError("This delivery is still being tried; wait for it to finish")
    return _new_delivery(session, endpoint, earlier.event_id)


def enable(session: Session, endpoint: WebhookEndpoint, *, actor: Actor) -> WebhookEndpoint:
    """Send events to a disabled endpoint again (new ones; earlier ones can be sent again by hand)."""
    if endpoint.status != "enabled":
        endpoint.status, endpoint.disabled_at, endpoint.disabled_reason = "enabled", None, None
        audit(session, actor, "webhook.enabled", f"webhook:{endpoint.id}")
        session.flush()
    return endpoint


def delete(session: Session, endpoint: WebhookEndpoint, *, actor: Actor) -> None:
    """Remove the endpoint and its delivery log; a job still holding one of its rows finds nothing."""
    session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    audit(session, actor, "webhook.deleted", f"webhook:{endpoint.id}", url=endpoint.url)
    session.delete(endpoint)
    session.flush()


def disable_after_failures(
    session: Session, endpoint_id: int, attempts: int, queued_at: datetime, reason: str, now: datetime | None = None
) -> bool:
    """Disable the endpoint after a delivery ran out of retries, and tell its owner by e-mail.

    Not if another delivery got through since the failed one (tried ``attempts`` times) was
    queued at ``queued_at``: the receiver works, it only lost that one. Returns whether the
    endpoint was disabled now. Does not commit.
    """
    now = now or utcnow()
    got_through = session.scalar(
        sa.select(WebhookDelivery.id).where(
            WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "delivered",
            WebhookDelivery.finished_at >= queued_at,
        ).limit(1)
    )
    if got_through is not None:
        return False
    notice = f"Disabled after {attempts} failed attempts over about a day; the last: {reason}"[:500]
    endpoint = session.execute(
        sa.update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.status == "enabled")
        .values(status="disabled", disabled_at=now, disabled_reason=notice)
        .returning(WebhookEndpoint),
        execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    if endpoint is None:
        return False
    owner = session.get(User, endpoint.created_by_id)
    queue_email(
        session, key=f"webhook_disabled:{endpoint.id}:{now.isoformat()}", to=owner.email, kind="webhook_disabled",
        context={
            "url": endpoint.url, "reason": reason[:300], "attempts": attempts, "endpoint_id": endpoint.id,
            "page": "admin.webhooks.endpoint" if endpoint.merchant_id is None else "merchant.webhooks.endpoint",
        },
    )
    return True
