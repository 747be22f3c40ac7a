"""Expiry reminders, 7 days before: one INSERT … SELECT over every card due, whatever their number."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.models import Account, GiftCard, User, utcnow
from portal.models.base import UTCDateTime
from portal.models.outbox import OutboxMessage
from portal.notifications.outbox import remember

REMINDER_DAYS = 7
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _expiry_day(dialect: str) -> sa.ColumnElement[str]:
    """The card's expiry date (UTC) as YYYY-MM-DD, in SQL."""
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", GiftCard.expires_at), "YYYY-MM-DD")
    return sa.func.substr(GiftCard.expires_at, 1, 10)  # SQLite stores "YYYY-MM-DD HH:MM:SS…" in UTC


def queue_expiry_reminders(session: Session, now: datetime | None = None) -> int:
    """Queue a reminder for every active card with money on it that expires within 7 days.

    The key ``expiry_reminder:<card id>:<expiry date>`` makes it one reminder per card and expiry
    date, however often this runs (a reinstated or topped-up card with a new date gets a new one).
    Only cards with an owner are reminded: a bearer card has no address. Returns how many were
    queued now; they are relayed when the session commits.
    """
    now = now or utcnow()
    dialect = session.connection().dialect.name
    key = (
        sa.literal("expiry_reminder:", sa.String)
        + sa.cast(GiftCard.id, sa.String)
        + sa.literal(":", sa.String)
        + _expiry_day(dialect)
    )
    due = (
        sa.select(
            key,
            sa.literal("expiry_reminder", sa.String),
            User.email,
            sa.literal({}, sa.JSON),
            GiftCard.id,
            sa.literal("pending", sa.String),
            sa.literal(0, sa.Integer),
            sa.literal(now, UTCDateTime),
        )
        .join(Account, Account.id == GiftCard.account_id)
        .join(User, User.id == GiftCard.owner_id)
        .where(
            GiftCard.status == "active",
            GiftCard.expires_at > now,
            GiftCard.expires_at <= now + timedelta(days=REMINDER_DAYS),
            Account.balance > 0,
        )
    )
    columns = ["key", "kind", "recipient", "context", "card_id", "status", "attempts", "created_at"]
    statement = (
        _INSERTS[dialect](OutboxMessage)
        .from_select(columns, due)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(OutboxMessage.id)
    )
    ids = list(session.scalars(statement))
    remember(session, ids)
    return len(ids)
