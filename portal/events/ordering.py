"""Handing events out in commit order, so a reader that resumes after the last one it saw never
misses one.

Event ids come from a sequence in insert order, and a transaction holding id 10 may commit after
one holding id 11: a reader that had seen 11 and resumed "after 11" would never see 10. So events
get a second number, ``position``, only once they are committed: the sequencer numbers every
committed event that has none yet, after the highest position so far. Sequencers take turns (a
transaction-scoped advisory lock on PostgreSQL; SQLite lets one writer in at a time anyway), and
each one's statement sees everything committed before it started, so positions grow in the order
they become visible and a position once seen is never followed by a smaller one.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.errors import ValidationError
from portal.models.events import Event

# The advisory lock that makes sequencers take turns ("events" in ASCII).
SEQUENCER_LOCK = 0x6576656E7473
MAX_LIMIT = 500


def assign_positions(session: Session) -> int:
    """Give every committed event without a position the next ones, in id order; returns how many.

    The caller commits (which ends the turn). Events still uncommitted elsewhere are not seen
    and get their positions from a later call.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(SEQUENCER_LOCK)))
    waiting = (
        sa.select(Event.id, sa.func.row_number().over(order_by=Event.id).label("n"))
        .where(Event.position.is_(None))
        .subquery()
    )
    highest = sa.select(sa.func.coalesce(sa.func.max(Event.position), 0)).scalar_subquery()
    return session.execute(
        sa.update(Event)
        .where(Event.id == waiting.c.id)
        .values(position=highest + waiting.c.n),
        execution_options={"synchronize_session": False},
    ).rowcount


def cursor(text: str | None, name: str = "after") -> int:
    """The ``after`` position a reader gives (0: from the start). Raise ValidationError if not a count."""
    if text is None or text == "":
        return 0
    if not text.isdigit() or len(text) > 18:
        raise ValidationError(f"Give {name} as the sequence number of the last event you have, like 42", field=name)
    return int(text)


def page_size(text: str | None) -> int:
    """How many events a reader wants (1 to MAX_LIMIT, 100 if not said). Raise ValidationError otherwise."""
    if text is None or text == "":
        return 100
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise ValidationError(f"Give limit as a whole number from 1 to {MAX_LIMIT}", field="limit")
    return int(text)


def events_after(session: Session, after: int, *, limit: int, merchant_id: int | None) -> list[Event]:
    """Positioned events after ``after``, oldest first: a merchant's own, or every one (merchant_id None)."""
    query = sa.select(Event).where(Event.position > after)
    if merchant_id is not None:
        query = query.where(Event.merchant_id == merchant_id)
    return list(session.scalars(query.order_by(Event.position).limit(limit)))
