"""Posting: one balanced transaction, its entries, and limit-enforcing balance updates."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from contextlib import nullcontext

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from portal.errors import IdempotencyConflict, InsufficientFunds, LimitExceeded
from portal.ledger.actors import Actor
from portal.ledger.hooks import posted
from portal.ledger.savepoints import savepoint
from portal.models import Account, Entry, ProgrammeLimits, Transaction, utcnow
from portal.models.ledger import TRANSACTION_KINDS
from portal.money import Money

Leg = tuple[Account, int]
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def fingerprint(*parts: object) -> str:
    """SHA-256 of a request's meaningful parts, to tell a replay from another request."""
    text = json.dumps(parts, default=str, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint_around(parts: tuple, index: int) -> tuple[str, str]:
    """``fingerprint``'s text before and after ``parts[index]``, a whole number that a database
    call learns only when it finds the row (a card named by its code): it hashes head, number, tail."""
    text = json.dumps((*parts[:index], 0, *parts[index + 1:]), default=str, separators=(",", ":"), sort_keys=True)
    head = json.dumps(parts[:index], default=str, separators=(",", ":"), sort_keys=True)[:-1]
    head += "," if index else ""
    return head, text[len(head) + 1:]


def posted_under(actor: Actor, idempotency_key: str) -> sa.ScalarSelect:
    """The id of the transaction posted under the actor's key, as a subquery (NULL if none)."""
    return (
        sa.select(Transaction.id)
        .where(Transaction.actor == actor.key(), Transaction.idempotency_key == idempotency_key)
        .scalar_subquery()
    )


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


def set_loaded_balance(session: Session, account_id: int, balance: int) -> None:
    """Keep any loaded copy of the account in step without marking it changed."""
    loaded = session.identity_map.get(identity_key(Account, account_id))
    if loaded is not None:
        set_committed_value(loaded, "balance", balance)


# Value entering a card this way is capped by the programme's maximum card balance, if one is set
# for the card's currency. Reversals and refunds are not: they put back what was there.
CAPPED_KINDS = ("issue", "load")


def _card_ceiling(delta: int) -> sa.ColumnElement[bool]:
    """In the UPDATE itself: a card stays within its currency's maximum balance (none set: no cap)."""
    ceiling = (
        sa.select(ProgrammeLimits.max_card_balance)
        .where(ProgrammeLimits.currency == Account.currency)
        .scalar_subquery()
    )
    return sa.or_(Account.kind != "card", ceiling.is_(None), Account.balance + delta <= ceiling)


def _change(session: Session, account_id: int, delta: int, *, limited: bool, capped: bool = False) -> int | None:
    """Add ``delta`` to one balance in one statement; with ``limited`` only if it stays >= 0, with
    ``capped`` only if a card stays within the programme's maximum balance."""
    statement = sa.update(Account).where(Account.id == account_id)
    if limited:
        statement = statement.where(sa.or_(Account.kind == "system", Account.balance + delta >= 0))
    if capped:
        statement = statement.where(_card_ceiling(delta))
    statement = statement.values(balance=Account.balance + delta).returning(Account.balance)
    balance = session.execute(statement, execution_options={"synchronize_session": False}).scalar()
    if balance is not None:
        set_loaded_balance(session, account_id, balance)
    return balance


def _undo(session: Session, applied: list[tuple[int, int]]) -> None:
    """Take back balance changes this transaction made a moment ago (it still holds their row locks)."""
    for account_id, delta in reversed(applied):
        _change(session, account_id, -delta, limited=False)


def _apply(session: Session, legs: list[Leg], *, capped: bool = False) -> list[tuple[int, int]]:
    """Change each balance in one statement that enforces the limit itself; returns what changed.

    Accounts are updated in id order so two transactions never wait on each other in a circle.
    If a balance would go below zero, the changes made before it are taken back and
    InsufficientFunds is raised: nothing of the transaction is left. With ``capped``, a card
    credited past its programme maximum is refused the same way, with LimitExceeded.
    """
    deltas: dict[int, int] = defaultdict(int)
    by_id = {}
    for account, amount in legs:
        deltas[account.id] += amount
        by_id[account.id] = account
    applied: list[tuple[int, int]] = []
    for account_id in sorted(deltas):
        delta = deltas[account_id]
        if delta == 0:
            continue
        if _change(session, account_id, delta, limited=delta < 0, capped=capped and delta > 0) is None:
            _undo(session, applied)
            if delta > 0:
                error = LimitExceeded(over_maximum(session, by_id[account_id]))
                error.account = by_id[account_id]
                raise error
            error = InsufficientFunds(f"There is not enough in {by_id[account_id].key}")
            error.account = by_id[account_id]
            raise error
        applied.append((account_id, delta))
    return applied


def over_maximum(session: Session, account: Account) -> str:
    """Why a card may not be credited past its programme maximum."""
    ceiling = session.get(ProgrammeLimits, account.currency).max_card_balance
    return f"A gift card may hold at most {Money(ceiling, account.currency).display()}"


def _insert_transaction(session: Session, values: dict, legs: list[Leg]) -> Transaction | None:
    """Insert the transaction and its entries; None if the actor's key is taken (nothing inserted).

    Two statements (the transaction unless its key exists, then every entry), after which the
    rows are attached to the session as loaded, so no ORM flush writes or re-reads them.
    """
    insert = _INSERTS[session.connection().dialect.name]
    transaction_id = session.execute(
        insert(Transaction).values(**values)
        .on_conflict_do_nothing(index_elements=["actor", "idempotency_key"])
        .returning(Transaction.id)
    ).scalar()
    if transaction_id is None:
        return None
    rows = [
        {"transaction_id": transaction_id, "account_id": account.id, "amount": amount, "currency": account.currency}
        for account, amount in legs
    ]
    entry_ids = session.scalars(sa.insert(Entry).returning(Entry.id, sort_by_parameter_order=True), rows).all()
    return attach_posted(
        session, transaction_id, values, [(entry_id, row, account) for entry_id, row, (account, _) in zip(entry_ids, rows, legs)]
    )


def attach_posted(
    session: Session, transaction_id: int, values: dict, entries: list[tuple[int, dict, Account | None]]
) -> Transaction:
    """A transaction and its entries (id, columns, account if loaded) just written by our own
    statements, attached to the session as loaded, so no ORM flush writes or re-reads them."""
    transaction = Transaction(id=transaction_id, **values)
    transaction.entries = [
        Entry(id=entry_id, **row, **({"account": account} if account is not None else {}))
        for entry_id, row, account in entries
    ]
    for loaded in (transaction, *transaction.entries):
        make_transient_to_detached(loaded)
        # A rolled-back transaction leaves its attached rows in the session, and SQLite gives their
        # ids out again: the new row takes the place of the one that never was.
        stale = session.identity_map.get(sa.inspect(loaded).key)
        if stale is not None:
            session.expunge(stale)
    session.add(transaction)
    return transaction


def transaction_values(
    actor: Actor, *, merchant_id: int | None = None, memo: str = "", created_at=None, **columns
) -> dict:
    """The columns of a new transaction (``columns``: kind, idempotency_key, request_hash, card_id,
    reverses_id, reference): the actor scopes the key, and a transaction without a merchant of its
    own is the actor's merchant's."""
    return dict(
        columns, actor=actor.key(), user_id=actor.user_id, token_id=actor.token_id,
        merchant_id=merchant_id if merchant_id is not None else actor.merchant_id, memo=memo[:500],
        created_at=created_at or utcnow(),
    )


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

    The balances change first, each in a statement that enforces its limit; then the
    transaction is inserted unless a request under the same key got there first (then the
    balance changes are taken back and that request's transaction is the answer). So no
    savepoint is needed except for a reversal, whose second attempt breaks a unique index.
    """
    _check_legs(kind, legs)
    values = transaction_values(
        actor, kind=kind, idempotency_key=idempotency_key, request_hash=request_hash, memo=memo,
        card_id=card_id, merchant_id=merchant_id, reference=reference, reverses_id=reverses_id,
    )
    nested = savepoint(session) if reverses_id is not None else nullcontext()
    with nested:
        try:
            applied = _apply(session, legs, capped=kind in CAPPED_KINDS)
        except (InsufficientFunds, LimitExceeded):
            # A request under the same key may have won meanwhile (spent the money, filled the card): its answer is ours.
            if (earlier := replay(session, actor, idempotency_key, request_hash)) is None:
                raise
            return earlier, True
        transaction = _insert_transaction(session, values, legs)
        if transaction is None:
            # A concurrent request with the same key committed first: answer as it did.
            _undo(session, applied)
            earlier = replay(session, actor, idempotency_key, request_hash)
            if earlier is None:
                raise IdempotencyConflict("This idempotency key is being used by another request")
            return earlier, True
        posted(session, transaction, legs)  # its event (issue 11), in the same transaction
    return transaction, False


def post(session: Session, **fields) -> Transaction:
    """Post one balanced transaction and return it (the earlier one if a same-key request won a race).

    Takes the fields of ``post_or_replay``; raises as it does.
    """
    return post_or_replay(session, **fields)[0]
