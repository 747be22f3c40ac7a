"""How long events and their delivery log are kept: ``EVENT_RETENTION_DAYS`` (30 by default, as
the large payment APIs keep theirs). ``GET /api/v1/events`` resumes from any position; a program
that pulls less often than that has missed what was pruned.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.bulk import among
from portal.models.events import Event, WebhookDelivery

RETENTION_DAYS = 30
BATCH = 5_000


def prune_events(session: Session, now: datetime, *, days: int = RETENTION_DAYS, limit: int = BATCH) -> int:
    """Delete up to ``limit`` events older than ``days``, oldest first, with their deliveries, and the
    test deliveries as old; returns how many events went. Never commits."""
    cutoff = now - timedelta(days=days)
    ids = list(session.scalars(sa.select(Event.id).where(Event.occurred_at < cutoff).order_by(Event.id).limit(limit)))
    session.execute(
        sa.delete(WebhookDelivery).where(sa.or_(
            among(session, WebhookDelivery.event_id, ids),
            sa.and_(WebhookDelivery.event_id.is_(None), WebhookDelivery.created_at < cutoff),
        )),
        execution_options={"synchronize_session": False},
    )
    session.execute(sa.delete(Event).where(among(session, Event.id, ids)), execution_options={"synchronize_session": False})
    return len(ids)
