"""The outbox: e-mail written in the caller's transaction, relayed after its commit (DESIGN §4).

A message is a row. ``queue_email`` inserts it beside the change that causes it, so both commit
or neither does; after the commit a listener hands the new rows to the relay (a batch job on RQ, or
inline without Redis). A sender claims its rows before sending, so a message is sent by one
sender at a time; see ``portal/notifications/delivery.py`` for what "once" means exactly.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.bulk import among
from portal.cards.codes import CARD_CODE_RE
from portal.models import utcnow
from portal.models.outbox import OutboxMessage
from portal.notifications.relay import EMAIL, relay_after_commit
from portal.services import services

# A claim older than this is taken to belong to a sender that died. Every send job times out
# well before it (see portal/jobs/email.py), so a live sender never loses its claim.
CLAIM_TIMEOUT = timedelta(minutes=10)
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_KIND = re.compile(r"[a-z][a-z0-9_]{0,59}")
_PLAIN = (str, int, float, bool, type(None))


def _check_context(context: dict) -> dict:
    """The context as JSON-ready plain values. Raise ValueError for objects or a full card code."""

    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        return isinstance(value, _PLAIN)

    if not isinstance(context, dict) or not plain(context):
        raise ValueError("an outbox context holds ids and plain values only")
    if CARD_CODE_RE.search(json.dumps(context, ensure_ascii=False)):
        raise ValueError("a full card code never goes in an outbox context: pass it as code=")
    return dict(context)


def queue_email(
    session: Session,
    *,
    key: str,
    to: str,
    kind: str,
    context: dict,
    card_id: int | None = None,
    code: str | None = None,
) -> int | None:
    """Write one e-mail into the outbox in the caller's transaction; it is sent after the commit.

    ``key`` makes the message unique (``card_received:42``): queueing the same key again does
    nothing, so replays and retries of the causing operation send one message. ``kind`` names the
    templates ``email/<kind>.txt`` and ``.html``. A code the message must carry in full (a card
    e-mailed to someone, a claim link) is passed as ``code`` and stored encrypted with the code
    vault. Returns the new row's id, or None if the key was already queued. Raise ValueError for
    an unknown kind, a context with objects or a full card code in it, or a blank key or address.
    """
    if not key or len(key) > 200:
        raise ValueError("an outbox key is 1 to 200 characters")
    if not to or "@" not in to or len(to) > 254:
        raise ValueError(f"not an e-mail address: {to!r}")
    if not _KIND.fullmatch(kind):
        raise ValueError(f"not a message kind: {kind!r}")
    if has_app_context():
        # Fails now, in the caller's transaction, rather than in a worker later.
        for suffix in ("txt", "html"):
            current_app.jinja_env.get_or_select_template(f"email/{kind}.{suffix}")
    values = dict(
        key=key, kind=kind, recipient=to.strip(), context=_check_context(context), card_id=card_id,
        status="pending", attempts=0, created_at=utcnow(),
    )
    if code is not None:

        values["code_ciphertext"] = services().vault.encrypt(code)
    insert = _INSERTS[session.connection().dialect.name]
    statement = (
        insert(OutboxMessage).values(**values).on_conflict_do_nothing(index_elements=["key"])
        .returning(OutboxMessage.id)
    )
    new_id = session.execute(statement).scalar()
    if new_id is not None:
        remember(session, [new_id])
    return new_id


def remember(session: Session, ids: list[int]) -> None:
    """Note rows this session queued, to be relayed when it commits."""
    relay_after_commit(session, EMAIL, ids)


# --- The lifecycle of a row, each step its own short transaction ------------------------------


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    """Pending and past any backoff, or claimed by a sender so long ago that it must have died."""
    return sa.and_(
        OutboxMessage.status.in_(("pending", "sending")),  # what the partial index ix_outbox_waiting holds
        sa.or_(
            sa.and_(
                OutboxMessage.status == "pending",
                sa.or_(OutboxMessage.retry_at.is_(None), OutboxMessage.retry_at <= now),
            ),
            sa.and_(OutboxMessage.status == "sending", OutboxMessage.claimed_at < now - CLAIM_TIMEOUT),
        ),
    )


def claim(
    session: Session, *, limit: int, ids: list[int] | None = None, now: datetime | None = None
) -> list[OutboxMessage]:
    """Take up to ``limit`` messages for sending, oldest first (only those of ``ids``, if given);
    none that is sent, failed, waiting out its backoff or being sent by someone else.

    One UPDATE decides: each row moves from 'pending' (or from a 'sending' claim older than
    CLAIM_TIMEOUT, whose sender died) to 'sending', counting the attempt. On PostgreSQL rows
    another sender is claiming at this moment are skipped (``SKIP LOCKED``), so senders side by
    side take different rows without waiting on each other. Commits. Returns the rows by id.
    """
    now = now or utcnow()
    waiting = sa.select(OutboxMessage.id).where(_claimable(now))
    if ids is not None:
        waiting = waiting.where(among(session, OutboxMessage.id, ids))
    waiting = waiting.order_by(OutboxMessage.id).limit(limit).with_for_update(skip_locked=True)
    messages = session.scalars(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_(waiting.scalar_subquery()), _claimable(now))
        .values(status="sending", attempts=OutboxMessage.attempts + 1, claimed_at=now, retry_at=None)
        .returning(OutboxMessage),
        execution_options={"synchronize_session": False},
    ).all()
    session.commit()
    return sorted(messages, key=lambda message: message.id)


# Each step below is one statement, run by the sender on a connection in AUTOCOMMIT: a message's
# outcome is recorded in one round trip, before the next message is handed over.


_SENT = (  # built once: building the statement took longer than its round trip
    sa.update(OutboxMessage)
    .where(OutboxMessage.id == sa.bindparam("outbox_id"))
    .values(status="sent", sent_at=sa.bindparam("now"), last_error=None)
)


def mark_sent(connection: sa.Connection, outbox_id: int, now: datetime | None = None) -> None:
    """Record that the mail server took the message."""
    connection.execute(_SENT, {"outbox_id": outbox_id, "now": now or utcnow()})


def mark_failed(connection: sa.Connection, outbox_id: int, error: str, *, retry_at: datetime | None) -> None:
    """Record a failed attempt: back to 'pending' until ``retry_at`` for the next try, or (None)
    'failed' for good."""
    connection.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, OutboxMessage.status == "sending")
        .values(
            status="pending" if retry_at else "failed", retry_at=retry_at, last_error=error[:1000], claimed_at=None
        )
    )


def release(connection: sa.Connection, ids: list[int]) -> None:
    """Give back claimed messages that were not tried (their sender ran out of time): pending
    again at once, the claim's attempt not counted."""
    connection.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "sending")
        .values(status="pending", attempts=OutboxMessage.attempts - 1, claimed_at=None)
    )


def waiting_ids(session: Session, now: datetime | None = None, *, limit: int = 10_000) -> list[int]:
    """Messages nobody is working on and whose time has come: pending ones past any backoff, and
    those whose sender's claim went stale."""
    now = now or utcnow()
    return list(
        session.scalars(sa.select(OutboxMessage.id).where(_claimable(now)).order_by(OutboxMessage.id).limit(limit))
    )


def failed_messages(session: Session, *, limit: int = 200) -> list[OutboxMessage]:
    """Messages that failed for good, newest first, for the admin pages."""
    return list(
        session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.status == "failed")
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(limit)
        )
    )


def requeue(session: Session, outbox_id: int) -> bool:
    """Give a failed message another round of attempts (an admin's "try again"); relayed after commit."""
    changed = session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, OutboxMessage.status == "failed")
        .values(status="pending", claimed_at=None, retry_at=None),
        execution_options={"synchronize_session": False},
    ).rowcount
    if changed:
        remember(session, [outbox_id])
    return bool(changed)
