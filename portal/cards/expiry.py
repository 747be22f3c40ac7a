"""Expiry: at the end of its date a card's remaining balance moves to breakage; an admin can undo it.

Each expiry is one ``expire`` transaction under the system key "expire:card:{id}" (then
"expire:card:{id}:2", … for a card that was reinstated and expired again), so a sweep run twice or
by two workers expires a card once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from portal.bulk import add_rows, among, insert_rows
from portal.cards.lookup import lock_card
from portal.errors import ValidationError
from portal.events import Movement, record_movements
from portal.events.payloads import card_data
from portal.ledger import SYSTEM, Actor, audit, fingerprint, post, required_reason, system_account
from portal.models import Account, Code, Entry, GiftCard, Transaction, Transfer, utcnow
from portal.notifications.messages import cards_expired


def _in_step(session: Session, model, ids, **values) -> None:
    """Keep any loaded copy of the rows a set-based statement changed in step, without marking it changed."""
    for ident in ids:
        loaded = session.identity_map.get(identity_key(model, ident))
        if loaded is not None:
            for name, value in values.items():
                set_committed_value(loaded, name, value)


def _record_events(session: Session, paying: list, transaction_ids: list[int], accounts: dict, now: datetime) -> None:
    """The ``card.expired`` event of each expire transaction, as ``post`` writes one (record_transaction):
    the card's account emptied into breakage by a transaction that names no merchant."""
    masked = dict(session.execute(
        sa.select(Code.id, Code.masked).where(among(session, Code.id, [card.code_id for card in paying]))
    ).all())
    record_movements(session, [
        Movement(
            transaction_id=transaction_id, kind="expire", amount=-accounts[card.account_id].balance,
            currency=card.currency, balance=0, account=accounts[card.account_id].kind,
            card=card_data(card, code_masked=masked[card.code_id]), customer_id=card.owner_id, merchant_id=None,
        )
        for card, transaction_id in zip(paying, transaction_ids, strict=True)
    ], now=now)


def _expire(session: Session, due: sa.Select, now: datetime) -> tuple[int, dict[int, int]]:
    """Expire the cards ``due`` selects (ids) that are still open and past their date, set-based.

    A few statements whatever their number: mark the cards expired (skipping any a till holds
    locked: the next sweep takes it), lock and empty their accounts, one ``expire`` transaction per
    card with money under the system key "expire:card:{id}[:n]" with its two entries, one breakage
    update per currency, end waiting transfers, queue the owners' notices, write the ``card.expired``
    events with their webhook deliveries (relayed after the commit). Returns how many cards
    expired and {card id: expire transaction id} for those that held money.
    """
    claim = (
        sa.update(GiftCard)
        .where(GiftCard.id.in_(due.with_for_update(skip_locked=True).scalar_subquery()))
        .where(GiftCard.status.in_(("active", "frozen")), GiftCard.expires_at <= now)
        .values(status="expired")
        .returning(
            GiftCard.id, GiftCard.account_id, GiftCard.currency, GiftCard.owner_id, GiftCard.expires_at,
            GiftCard.merchant_id, GiftCard.code_id,
        )
    )
    cards = session.execute(claim, execution_options={"synchronize_session": False}).all()
    if not cards:
        return 0, {}
    _in_step(session, GiftCard, [card.id for card in cards], status="expired")
    session.execute(
        sa.update(Transfer)
        .where(among(session, Transfer.card_id, [card.id for card in cards]), Transfer.status == "pending")
        .values(status="lapsed", finished_at=now),
        execution_options={"synchronize_session": "fetch"},
    )
    by_account = {card.account_id: card for card in cards}
    locked = {account.id: account for account in session.execute(
        sa.select(Account.id, Account.balance, Account.kind).where(among(session, Account.id, by_account), Account.balance > 0)
        .order_by(Account.id).with_for_update()
    )}
    held = {account_id: account.balance for account_id, account in locked.items()}
    paying = [by_account[account_id] for account_id in held]
    cards_expired(session, cards, {card.id: held[card.account_id] for card in paying})
    if not paying:
        return len(cards), {}
    earlier = dict(session.execute(
        sa.select(Transaction.card_id, sa.func.count(Transaction.id))
        .where(among(session, Transaction.card_id, [card.id for card in paying]), Transaction.kind == "expire")
        .group_by(Transaction.card_id)
    ).all())
    transaction_ids = insert_rows(
        session, Transaction, ["kind", "actor", "idempotency_key", "request_hash", "card_id", "memo", "created_at"],
        [
            (
                "expire", SYSTEM.key(),
                f"expire:card:{card.id}" + (f":{earlier[card.id] + 1}" if card.id in earlier else ""),
                fingerprint("expire", card.id, earlier.get(card.id, 0)), card.id,
                f"Expired on {card.expires_at.date().isoformat()}", now,
            )
            for card in paying
        ],
    )
    breakage = {currency: system_account(session, "breakage", currency) for currency in {c.currency for c in paying}}
    add_rows(session, Entry, ["transaction_id", "account_id", "amount", "currency"], [
        (transaction_id, account_id, amount, card.currency)
        for card, transaction_id in zip(paying, transaction_ids)
        for account_id, amount in (
            (card.account_id, -held[card.account_id]), (breakage[card.currency].id, held[card.account_id])
        )
    ])
    # The accounts are locked and hold exactly what moves to breakage, so each ends at zero.
    session.execute(
        sa.update(Account).where(among(session, Account.id, held)).values(balance=0),
        execution_options={"synchronize_session": False},
    )
    _in_step(session, Account, held, balance=0)
    _record_events(session, paying, transaction_ids, locked, now)
    # Breakage last: every sweeping lane updates its row, which stays locked until this batch commits.
    gained: dict[str, int] = defaultdict(int)
    for card in paying:
        gained[card.currency] += held[card.account_id]
    for currency, amount in sorted(gained.items()):
        account = breakage[currency]
        balance = session.execute(
            sa.update(Account).where(Account.id == account.id).values(balance=Account.balance + amount)
            .returning(Account.balance), execution_options={"synchronize_session": False},
        ).scalar()
        set_committed_value(account, "balance", balance)
    return len(cards), {card.id: transaction_id for card, transaction_id in zip(paying, transaction_ids)}


def expire_card(session: Session, card: GiftCard, *, now: datetime | None = None) -> Transaction | None:
    """Expire a card whose date has passed; returns the expire transaction, or None if nothing moved."""
    now = now or utcnow()
    lock_card(session, card)
    _, moved = _expire(session, sa.select(GiftCard.id).where(GiftCard.id == card.id), now)
    return session.get(Transaction, moved[card.id]) if card.id in moved else None


def expire_due(session: Session, now: datetime | None = None, *, limit: int = 5_000) -> int:
    """Expire up to ``limit`` cards whose date has passed (the daily sweep); returns how many."""
    now = now or utcnow()
    due = (
        sa.select(GiftCard.id)
        .where(GiftCard.status.in_(("active", "frozen")), GiftCard.expires_at <= now)
        .order_by(GiftCard.expires_at, GiftCard.id)
        .limit(limit)
    )
    return _expire(session, due, now)[0]


def reinstate(
    session: Session, card: GiftCard, *, actor: Actor, reason: str, expires_at: datetime, now: datetime | None = None
) -> Transaction | None:
    """Bring an expired card back with a new expiry date and the balance it lost to breakage.

    Returns the ``reinstate`` transaction (None if the card expired empty). Raise ValidationError
    if the card is not expired, the date is not in the future, or the reason is blank.
    """
    now = now or utcnow()
    reason = required_reason(reason)
    if expires_at.tzinfo is None or expires_at <= now:
        raise ValidationError("Choose a new expiry date in the future", field="expires_at")
    lock_card(session, card)
    if card.status != "expired":
        raise ValidationError("Only an expired card can be reinstated")
    expiry = session.scalar(
        sa.select(Transaction)
        .where(Transaction.card_id == card.id, Transaction.kind == "expire")
        .order_by(Transaction.id.desc())
        .limit(1)
    )
    undone = expiry is not None and session.scalar(
        sa.select(Transaction.id).where(Transaction.reverses_id == expiry.id)
    ) is not None
    transaction = None
    if expiry is not None and not undone:
        lost = sum(entry.amount for entry in expiry.entries if entry.account_id != card.account_id)
        transaction = post(
            session, kind="reinstate", actor=actor, idempotency_key=f"reinstate:{expiry.id}",
            request_hash=fingerprint("reinstate", expiry.id), reverses_id=expiry.id, card_id=card.id,
            legs=[(system_account(session, "breakage", card.currency), -lost), (card.account, lost)],
            memo=f"Reinstated: {reason}",
        )
    card.status = "active"
    card.expires_at = expires_at
    audit(session, actor, "card.reinstated", f"card:{card.id}", reason, expires_at=expires_at.isoformat())
    session.flush()
    return transaction
