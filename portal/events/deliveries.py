"""Webhook deliveries as an outbox (DESIGN §4): rows written with the event, relayed to RQ after
the commit, claimed by the job that sends them, retried with backoff for about a day.

The lifecycle mirrors e-mail's (portal/notifications/outbox.py): one UPDATE claims a row
(pending → sending), a claim older than CLAIM_TIMEOUT belongs to a sender that died and may be
taken again, and each step is its own short transaction.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.models import utcnow
from portal.models.events import WebhookDelivery
from portal.notifications.outbox import CLAIM_TIMEOUT
from portal.notifications.relay import Route, relay_after_commit
from portal.notifications.relay import relay as relay_rows

QUEUE = "webhooks"
SEND_JOB = "portal.jobs.webhooks.send_webhook"
# A minute, 5 minutes, half an hour, an hour, 3, 6 and 12 hours: eight tries over about 23 hours.
DEFAULT_RETRY_INTERVALS = (60, 300, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600)
# Far longer than one POST (WEBHOOK_TIMEOUT_SECONDS), far shorter than CLAIM_TIMEOUT.
SEND_TIMEOUT_SECONDS = 60


ROUTE = Route(
    name="webhook", queue=QUEUE, job=SEND_JOB, prefix="webhook", retry_setting="WEBHOOK_RETRY_INTERVALS",
    default_intervals=DEFAULT_RETRY_INTERVALS, timeout=SEND_TIMEOUT_SECONDS,
    inline="portal.events.sending.deliver_now",
)


def remember(session: Session, ids: list[int]) -> None:
    """Note deliveries this session queued, to be relayed when it commits."""
    relay_after_commit(session, ROUTE, ids)


def relay(ids: list[int], connection=None) -> int:
    """Hand deliveries to their send jobs (job id ``webhook-<id>``), or send them inline without Redis."""
    return relay_rows(ids, connection, ROUTE)


# --- The lifecycle of a row, each step its own short transaction ------------------------------


def _claimable(now: datetime):
    return sa.or_(
        WebhookDelivery.status == "pending",
        sa.and_(WebhookDelivery.status == "sending", WebhookDelivery.claimed_at < now - CLAIM_TIMEOUT),
    )


def claim(session: Session, delivery_id: int, now: datetime | None = None) -> WebhookDelivery | None:
    """Take the delivery for sending, counting the attempt; None if it is done or another sender has it. Commits."""
    now = now or utcnow()
    claimed = session.execute(
        sa.update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, _claimable(now))
        .values(status="sending", attempts=WebhookDelivery.attempts + 1, claimed_at=now)
        .returning(WebhookDelivery.id),
        execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    session.commit()
    return session.get(WebhookDelivery, claimed, populate_existing=True) if claimed is not None else None


def mark_delivered(session: Session, delivery_id: int, status_code: int) -> None:
    """Record the receiver's 2xx answer. Commits."""
    session.execute(
        sa.update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(status="delivered", response_status=status_code, last_error=None, finished_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    session.commit()


def mark_failed(session: Session, delivery_id: int, error: str, status_code: int | None, *, final: bool) -> None:
    """Record a failed attempt: back to 'pending' for the next try, or 'failed' for good. Does not commit."""
    session.execute(
        sa.update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "sending")
        .values(
            status="failed" if final else "pending", response_status=status_code, last_error=error[:1000],
            claimed_at=None, finished_at=utcnow() if final else None,
        ),
        execution_options={"synchronize_session": False},
    )


def waiting_ids(session: Session, now: datetime | None = None, *, limit: int = 10_000) -> list[int]:
    """Deliveries nobody is working on: pending ones, and those whose sender's claim went stale."""
    now = now or utcnow()
    return list(
        session.scalars(
            sa.select(WebhookDelivery.id).where(_claimable(now)).order_by(WebhookDelivery.id).limit(limit)
        )
    )
