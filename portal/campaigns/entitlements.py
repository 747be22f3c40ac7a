"""Entitlements: features a customer may use until a date (DESIGN §2, feature unlock).

Other systems follow them through events: ``entitlement.granted`` when one begins or grows
longer, ``entitlement.expired`` when the sweep (``expire_due``) finds it ended.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.campaigns.uses import insert_ignoring_conflict
from portal.errors import ValidationError
from portal.events import kinds as events
from portal.models import User, utcnow
from portal.models.campaigns import Entitlement


def feature_label(feature: str) -> str:
    """How a feature is named to people: "plus" -> "Plus"."""
    return feature.replace("_", " ").replace("-", " ").title()


def grant(
    session: Session,
    user: User,
    feature: str,
    days: int,
    *,
    campaign_id: int | None = None,
    gives: str | None = None,
    now: datetime | None = None,
) -> Entitlement:
    """Unlock ``feature`` for ``days``: from now, or added to the end if it is still active;
    ``gives`` (what it gives, in words) replaces the last one when given. Records entitlement.granted.

    One row per customer and feature, locked while it changes, so two grants at once add up.
    Raise ValidationError if the user is not a customer or the days are not positive.
    """
    now = now or utcnow()
    if user.role != "customer":
        raise ValidationError("Only customers can unlock features")
    if type(days) is not int or days < 1:
        raise ValidationError("A feature is unlocked for at least one day", field="feature_days")
    insert_ignoring_conflict(
        session, Entitlement, ["user_id", "feature"],
        # A new row has no earlier period whose end is still to announce.
        user_id=user.id, feature=feature, starts_at=now, ends_at=now, expired_at=now, campaign_id=campaign_id,
        created_at=now,
    )
    entitlement = session.scalar(
        sa.select(Entitlement)
        .where(Entitlement.user_id == user.id, Entitlement.feature == feature)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if entitlement.ends_at > now:
        entitlement.ends_at = entitlement.ends_at + timedelta(days=days)
    else:
        if entitlement.expired_at is None:
            # It ended before the sweep came by: its end is told before its new start.
            events.entitlement_changed(session, "entitlement.expired", entitlement)
        entitlement.starts_at, entitlement.ends_at, entitlement.expired_at = now, now + timedelta(days=days), None
    entitlement.campaign_id = campaign_id
    if gives is not None:
        entitlement.gives = gives
    session.flush()
    events.entitlement_changed(session, "entitlement.granted", entitlement)
    return entitlement


def expire_due(session: Session, now: datetime | None = None) -> int:
    """Mark every entitlement that ended by ``now`` as expired and record entitlement.expired for
    each, once: the guarded UPDATE claims each row, so a second run (or a second sweep at once)
    finds nothing. Returns how many ended."""
    now = now or utcnow()
    ended = session.scalars(
        sa.update(Entitlement)
        .where(Entitlement.expired_at.is_(None), Entitlement.ends_at <= now)
        .values(expired_at=now)
        .returning(Entitlement),
        execution_options={"synchronize_session": False},
    ).all()
    for entitlement in ended:
        events.entitlement_changed(session, "entitlement.expired", entitlement)
    return len(ended)


def active_entitlements(session: Session, user: User, now: datetime | None = None) -> list[Entitlement]:
    """The features the customer may use now, soonest to end first."""
    now = now or utcnow()
    return list(
        session.scalars(
            sa.select(Entitlement)
            .where(Entitlement.user_id == user.id, Entitlement.ends_at > now)
            .order_by(Entitlement.ends_at)
        )
    )


def has_feature(session: Session, user: User, feature: str, now: datetime | None = None) -> bool:
    """Whether the customer may use ``feature`` now."""
    now = now or utcnow()
    return session.scalar(
        sa.select(Entitlement.id).where(
            Entitlement.user_id == user.id, Entitlement.feature == feature, Entitlement.ends_at > now
        )
    ) is not None
