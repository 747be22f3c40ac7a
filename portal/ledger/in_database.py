"""Payments on PostgreSQL in one round trip: one call of a function of ours (their SQL is in
migration a8d4f2c6e913) that does a payment's whole write set and answers a refusal as an outcome
with nothing written. The callers (``portal.cards.in_database``, ``portal.wallet``) raise
for an outcome the same DomainError as their Python path, with its words.

SQLite keeps the Python path. ``PORTAL_PAY_IN_PYTHON=1`` runs the Python path on PostgreSQL too:
the money tests run both ways (``payment_path`` in tests/conftest.py), so the two cannot drift.
"""

from __future__ import annotations

import os
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.errors import IdempotencyConflict
from portal.ledger.actors import Actor
from portal.ledger.posting import replay
from portal.models import Transaction

IN_ONE_CALL = set() if os.environ.get("PORTAL_PAY_IN_PYTHON") == "1" else {"postgresql"}


def in_one_call(session: Session) -> bool:
    """Whether this session's database pays in one call."""
    return session.get_bind().dialect.name in IN_ONE_CALL


@lru_cache
def _statement(function: str, signature: tuple[tuple[str, str], ...]) -> sa.TextClause:
    # Each argument cast to the function's own type: psycopg sends small ints as smallint and NULL untyped.
    casts = ", ".join(f"CAST(:{name} AS {kind})" for name, kind in signature)
    return sa.text(f"SELECT * FROM {function}({casts})")


def call(session: Session, function: str, arguments: list[tuple[str, str, object]]) -> sa.Row:
    """``SELECT * FROM function(…)`` with ``arguments`` as (name, SQL type, value), in order."""
    session.flush()
    statement = _statement(function, tuple((name, kind) for name, kind, _ in arguments))
    return session.execute(statement, {name: value for name, _, value in arguments}).one()


def earlier_answer(session: Session, actor: Actor, idempotency_key: str, request_hash: str, outcome: str) -> Transaction | None:
    """After ``replay`` (the key is taken) or a refusal a same-key request may explain (it spent the
    money first): the transaction posted under the key, as ``post_or_replay`` answers. Raise
    IdempotencyConflict if that was another request, or if ``replay`` finds none (its request has
    not committed); None when the refusal stands."""
    if (earlier := replay(session, actor, idempotency_key, request_hash)) is not None:
        return earlier
    if outcome == "replay":
        raise IdempotencyConflict("This idempotency key is being used by another request")
    return None
