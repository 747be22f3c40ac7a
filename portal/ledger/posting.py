"""Posting: one balanced transaction, its entries, and limit-enforcing balance updates."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from portal.errors import IdempotencyConflict, InsufficientFunds
from portal.ledger.actors import Actor
from portal.ledger.savepoints import savepoint
from portal.models import Account, Entry, Transaction
from portal.models.ledger import TRANSACTION_KINDS

Leg = tuple[Account, int]


def fingerprint(*parts: object) -> str:
    """SHA-256 of a request's meaningful parts, to tell a replay from another request."""
    text = json.dumps(parts, default=str, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def replay(session: Session, actor: Actor, idempotency_key: str, request_hash: str) -> Transaction | None:
    """The earlier transaction under this actor and key, or None if there is none.

    Raise IdempotencyConflict if the key was used for a different request.
    """
    earlier = session.scalar(
        sa.select(Transaction).where(
            Transaction.actor == actor.key(), Transaction.idempotency_key == idempotency_key
        )
    )
    if earlier is not None and earlier.request_hash != request_hash:
        raise IdempotencyConflict("This idempotency key was already used for a different request")
    return earlier


def _check_legs(kind: str, legs: list[Leg]) -> None:
    """Programming errors, not user errors: an unknown kind, a zero leg, an unbalanced sum."""
    if kind not in TRANSACTION_KINDS:
        raise ValueError(f"unknown transaction kind {kind!r}")
    if not legs:
        raise ValueError("a transaction needs entries")
    sums: dict[str, int] = defaultdict(int)
    for account, amount in legs:
        if type(amount) is not int or amount == 0:
            raise ValueError(f"leg amounts are non-zero ints, not {amount!r}")
        if account.id is None:
            raise ValueError("legs need persisted accounts")
        sums[account.currency] += amount
    unbalanced = {currency: total for currency, total in sums.items() if total}
    if unbalanced:
        raise ValueError(f"legs do not sum to zero per currency: {unbalanced}")


def _apply(session: Session, legs: list[Leg]) -> None:
    """Change each balance in one statement that enforces the limit itself.

    Accounts are updated in id order so two transactions never wait on each other in a circle.
    """
    deltas: dict[int, int] = defaultdict(int)
    by_id = {}
    for account, amount in legs:
        deltas[account.id] += amount
        by_id[account.id] = account
    for account_id in sorted(deltas):
        delta = deltas[account_id]
        if delta == 0:
            continue
        statement = sa.update(Account).where(Account.id == account_id)
        if delta < 0:
            statement = statement.where(sa.or_(Account.kind == "system", Account.balance + delta >= 0))
        statement = statement.values(balance=Account.balance + delta).returning(Account.balance)
        balance = session.execute(statement, execution_options={"synchronize_session": False}).scalar()
        if balance is None:
            error = InsufficientFunds(f"There is not enough in {by_id[account_id].key}")
            error.account = by_id[account_id]
            raise error
        # Keep any loaded copy in step without marking it changed.
        loaded = session.identity_map.get(identity_key(Account, account_id))
        if loaded is not None:
            set_committed_value(loaded, "balance", balance)


def post_or_replay(
    session: Session,
    *,
    kind: str,
    actor: Actor,
    idempotency_key: str,
    legs: list[Leg],
    request_hash: str,
    memo: str = "",
    card_id: int | None = None,
    merchant_id: int | None = None,
    reference: str | None = None,
    reverses_id: int | None = None,
) -> tuple[Transaction, bool]:
    """Post a transaction, or find the one a concurrent request posted under the same key.

    Returns (transaction, replayed). Raise InsufficientFunds (with ``.account``) if a
    stored-value account would go below zero, IdempotencyConflict if the key was taken by
    another request; an IntegrityError that is not about the key (say a second reversal)
    is raised as it is. On any error nothing of it stays in the session.
    """
    _check_legs(kind, legs)
    transaction = Transaction(
        kind=kind,
        actor=actor.key(),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        user_id=actor.user_id,
        token_id=actor.token_id,
        merchant_id=merchant_id if merchant_id is not None else actor.merchant_id,
        card_id=card_id,
        reverses_id=reverses_id,
        memo=memo[:500],
        reference=reference,
        entries=[
            Entry(account_id=account.id, amount=amount, currency=account.currency) for account, amount in legs
        ],
    )
    try:
        with savepoint(session):
            session.add(transaction)
            session.flush()
            _apply(session, legs)
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as it did.
        earlier = replay(session, actor, idempotency_key, request_hash)
        if earlier is None:
            raise
        return earlier, True
    return transaction, False


def post(session: Session, **fields) -> Transaction:
    """Post one balanced transaction and return it (the earlier one if a same-key request won a race).

    Takes the fields of ``post_or_replay``; raises as it does.
    """
    return post_or_replay(session, **fields)[0]
