"""Payments on PostgreSQL in one round trip: one call of a function of ours (their SQL is in
migration a8d4f2c6e913) that does a payment's whole write set and answers a refusal as an outcome
with nothing written. The callers (``portal.cards.in_database``, ``portal.wallet``) raise
for an outcome the same DomainError as their Python path, with its words.

SQLite keeps the Python path. ``PORTAL_PAY_IN_PYTHON=1`` runs the Python path on PostgreSQL too:
the money tests run both ways (``payment_path`` in tests/conftest.py), so the two cannot drift.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.errors import IdempotencyConflict
from portal.ledger.actors import Actor
from portal.ledger.posting import replay
from portal.models import Transaction

IN_ONE_CALL = set() if os.environ.get("PORTAL_PAY_IN_PYTHON") == "1" else {"postgresql"}


@dataclass(frozen=True)
class AnswerRecord:
    """An API request's idempotency record (``portal.api.idempotency``), for a call that keeps it
    itself: it takes the key's advisory lock (``lock``), looks for an answer kept under the key,
    and on success writes the record in the same transaction as the money."""

    scope: str
    key: str
    fingerprint: str
    lock: int
    expires_at: datetime

    def arguments(self) -> list[tuple[str, str, object]]:
        return [
            ("record_scope", "text", self.scope), ("record_key", "text", self.key),
            ("record_lock", "bigint", self.lock), ("record_fingerprint", "text", self.fingerprint),
            ("record_expires_at", "timestamptz", self.expires_at),
        ]


NO_RECORD = AnswerRecord(None, None, None, None, None)  # a call not made for an API request


class AnsweredEarlier(Exception):
    """The call found the request's key taken: by a kept answer (``record_id``), or, with
    ``record_id`` None, by a request still running. Nothing was written."""

    def __init__(self, record_id: int | None) -> None:
        super().__init__(record_id)
        self.record_id = record_id


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
