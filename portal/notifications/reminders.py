"""Expiry reminders, 7 days before: for cards with money on them and for campaign codes e-mailed to
someone and not yet used. Each is one INSERT … SELECT over everything due, whatever its number,
keyed so that a sweep run again (or two at once) queues nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.models import Account, Code, GiftCard, User, utcnow
from portal.models.base import UTCDateTime
from portal.models.campaigns import Campaign, CampaignCode, CampaignRecipient, CampaignUse
from portal.models.outbox import OutboxMessage
from portal.notifications.outbox import remember

REMINDER_DAYS = 7
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _day(dialect: str, moment) -> sa.ColumnElement[str]:
    """A moment's UTC date as YYYY-MM-DD, in SQL."""
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", moment), "YYYY-MM-DD")
    return sa.func.substr(moment, 1, 10)  # SQLite stores "YYYY-MM-DD HH:MM:SS…" in UTC


def _key(kind: str, row_id, dialect: str, ends) -> sa.ColumnElement[str]:
    """``<kind>:<id>:<end date>``: one reminder per thing and end date (a new date is a new reminder)."""
    prefix = sa.literal(f"{kind}:", sa.String)
    return prefix + sa.cast(row_id, sa.String) + sa.literal(":", sa.String) + _day(dialect, ends)


def _due(ends, now: datetime) -> sa.ColumnElement[bool]:
    """The rule: it ends within the next REMINDER_DAYS days, and has not ended yet."""
    return sa.and_(ends > now, ends <= now + timedelta(days=REMINDER_DAYS))


def _queue(session: Session, kind: str, due: sa.Select, now: datetime) -> int:
    """Queue one ``kind`` message per row of ``due`` (key, recipient, context, card_id, code_ciphertext)
    in one statement; a key already in the outbox is skipped. Relayed when the session commits."""
    rows = due.add_columns(
        sa.literal(kind, sa.String), sa.literal("pending", sa.String), sa.literal(0, sa.Integer),
        sa.literal(now, UTCDateTime),
    )
    columns = ["key", "recipient", "context", "card_id", "code_ciphertext", "kind", "status", "attempts", "created_at"]
    statement = (
        _INSERTS[session.connection().dialect.name](OutboxMessage)
        .from_select(columns, rows)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(OutboxMessage.id)
    )
    ids = list(session.scalars(statement))
    remember(session, ids)
    return len(ids)


def queue_expiry_reminders(session: Session, now: datetime | None = None) -> int:
    """Queue a reminder for every active card with money on it that expires within 7 days.

    The key ``expiry_reminder:<card id>:<expiry date>`` makes it one reminder per card and expiry
    date, however often this runs (a reinstated or topped-up card with a new date gets a new one).
    Only cards with an owner are reminded: a bearer card has no address. Returns how many were
    queued now; they are relayed when the session commits.
    """
    now = now or utcnow()
    dialect = session.connection().dialect.name
    due = (
        sa.select(
            _key("expiry_reminder", GiftCard.id, dialect, GiftCard.expires_at), User.email, sa.literal({}, sa.JSON),
            GiftCard.id, sa.cast(sa.null(), sa.LargeBinary),
        )
        .join(Account, Account.id == GiftCard.account_id)
        .join(User, User.id == GiftCard.owner_id)
        .where(GiftCard.status == "active", _due(GiftCard.expires_at, now), Account.balance > 0)
    )
    return _queue(session, "expiry_reminder", due, now)


def _code_ends(dialect: str) -> sa.ColumnElement:
    """When a campaign code stops working, in SQL (``rules.code_expiry``): the campaign's date, or
    its days counted from the code's issue."""
    if dialect == "postgresql":
        by_days = Code.created_at + sa.func.make_interval(0, 0, 0, sa.cast(Campaign.valid_days, sa.Integer))
    else:
        by_days = sa.func.datetime(Code.created_at, sa.literal("+") + sa.cast(Campaign.valid_days, sa.String) + " days")
    return sa.func.coalesce(Campaign.expires_at, by_days)


def _context(dialect: str, **values) -> sa.ColumnElement:
    """A JSON object of SQL values, for a message's context."""
    build = sa.func.json_build_object if dialect == "postgresql" else sa.func.json_object
    # The names are written into the SQL: PostgreSQL cannot tell a bound parameter's type in this variadic call.
    return build(*(part for name, value in values.items() for part in (sa.literal_column(f"'{name}'"), value)))


def queue_code_reminders(session: Session, now: datetime | None = None) -> int:
    """Queue a reminder to everyone a campaign's code was e-mailed to whose code stops working within
    7 days and who has not used it: the code itself (it travels encrypted, as the first e-mail's did),
    the campaign and the last day.

    Keyed ``code_expiry_reminder:<recipient id>:<expiry date>``: once per code given and expiry date,
    however often this runs. A gift card campaign's codes are cards, reminded as cards; a deleted
    campaign, one used up and a single-use code someone used remind nobody. Returns how many were queued.
    """
    now = now or utcnow()
    dialect = session.connection().dialect.name
    ends = _code_ends(dialect)
    used_by_them = sa.exists().where(
        CampaignUse.campaign_code_id == CampaignRecipient.campaign_code_id, CampaignUse.email == CampaignRecipient.email
    )
    due = (
        sa.select(
            _key("code_expiry_reminder", CampaignRecipient.id, dialect, ends), CampaignRecipient.email,
            _context(dialect, campaign=Campaign.name, campaign_kind=Campaign.kind, last_day=_day(dialect, ends)),
            sa.cast(sa.null(), sa.BigInteger), Code.ciphertext,
        )
        .join(CampaignCode, CampaignCode.id == CampaignRecipient.campaign_code_id)
        .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
        .join(Code, Code.id == CampaignCode.code_id)
        .where(
            CampaignRecipient.outbox_id.is_not(None),
            Campaign.kind != "gift_card",
            Campaign.deleted_at.is_(None),
            sa.or_(Campaign.max_uses.is_(None), Campaign.uses < Campaign.max_uses),
            sa.or_(Campaign.code_mode != "random", CampaignCode.uses == 0),
            ~used_by_them,
            _due(ends, now),
        )
    )
    return _queue(session, "code_expiry_reminder", due, now)
