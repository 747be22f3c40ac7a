"""Expiry: at the end of its date a card's remaining balance moves to breakage; an admin can undo it.

Each expiry is one ``expire`` transaction under the system key "expire:card:{id}" (then
"expire:card:{id}:2", … for a card that was reinstated and expired again), so a sweep run twice or
by two workers expires a card once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from portal.bulk import add_rows, among, insert_rows
from portal.cards.lookup import lock_card
from portal.errors import ValidationError
from portal.events import Movement, record_movements
from portal.events.catalogue import TRANSACTION_EVENTS
from portal.events.payloads import card_data
from portal.events.record import queue_deliveries
from portal.ledger import SYSTEM, Actor, audit, fingerprint, post, required_reason, system_account
from portal.models import Account, Code, Entry, GiftCard, Transaction, Transfer, utcnow
from portal.models.base import UTCDateTime
from portal.money import exponent
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


def _post_in_python(
    session: Session, paying: list, held: dict[int, int], locked: dict, breakage: dict[str, Account], now: datetime
) -> dict[int, int]:
    """The expire transactions of ``paying`` (their accounts locked, holding ``held``), their
    entries and their events, built row by row here (SQLite). Returns {card id: transaction id}."""
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
    add_rows(session, Entry, ["transaction_id", "account_id", "amount", "currency"], [
        (transaction_id, account_id, amount, card.currency)
        for card, transaction_id in zip(paying, transaction_ids)
        for account_id, amount in (
            (card.account_id, -held[card.account_id]), (breakage[card.currency].id, held[card.account_id])
        )
    ])
    _record_events(session, paying, transaction_ids, locked, now)
    return {card.id: transaction_id for card, transaction_id in zip(paying, transaction_ids)}


# The same rows as _post_in_python writes, written by PostgreSQL in one statement: the expire
# transaction of each card (its key and fingerprint as ``fingerprint`` makes them), the entries
# moving what the locked account holds to breakage, and the ``card.expired`` event with the data
# ``Movement.data`` gives (tests/unit/test_events_record.py holds the two to the same payload; it
# is built from ids, amounts and the stored masked code, so no full code can reach it).
_POST_EXPIRIES = sa.text("""
WITH earlier AS (
    SELECT card_id, count(*) AS n FROM ledger_transactions
    WHERE kind = 'expire' AND card_id = ANY(:cards) GROUP BY card_id
), money AS (
    SELECT * FROM unnest(CAST(:currencies AS text[]), CAST(:exponents AS integer[]), CAST(:breakage AS bigint[]))
        AS m (currency, exponent, breakage_id)
), posted AS (
    INSERT INTO ledger_transactions (kind, actor, idempotency_key, request_hash, card_id, memo, created_at)
    SELECT 'expire', :actor,
           'expire:card:' || g.id || CASE WHEN e.n IS NULL THEN '' ELSE ':' || (e.n + 1) END,
           encode(sha256(convert_to('["expire",' || g.id || ',' || coalesce(e.n, 0) || ']', 'UTF8')), 'hex'),
           g.id, 'Expired on ' || to_char(g.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), :now
    FROM gift_cards g LEFT JOIN earlier e ON e.card_id = g.id
    WHERE g.id = ANY(:cards)
    ORDER BY g.id
    RETURNING id, card_id
), moved AS (
    SELECT p.id AS transaction_id, g.id AS card_id, g.account_id, g.currency, g.merchant_id, g.owner_id,
           g.code_id, a.balance AS held, a.kind AS account_kind, m.exponent, m.breakage_id
    FROM posted p JOIN gift_cards g ON g.id = p.card_id JOIN accounts a ON a.id = g.account_id
    JOIN money m ON m.currency = g.currency
), entries AS (
    INSERT INTO ledger_entries (transaction_id, account_id, amount, currency)
    SELECT transaction_id, account_id, -held, currency FROM moved
    UNION ALL
    SELECT transaction_id, breakage_id, held, currency FROM moved
), recorded AS (
    INSERT INTO events (type, occurred_at, merchant_id, transaction_id, payload)
    SELECT :event_type, :now, v.merchant_id, v.transaction_id, json_build_object(
        'transaction_id', v.transaction_id, 'kind', 'expire',
        'amount', round(-v.held / (10::numeric ^ v.exponent), v.exponent)::text, 'currency', v.currency,
        'balance', round(0::numeric, v.exponent)::text, 'account', v.account_kind,
        'card', json_build_object('id', v.card_id, 'code_masked', c.masked, 'currency', v.currency,
                                  'merchant_id', v.merchant_id),
        'customer_id', v.owner_id, 'merchant_id', NULL, 'reference', NULL, 'reverses_id', NULL
    )
    FROM moved v JOIN codes c ON c.id = v.code_id
    RETURNING id, transaction_id, merchant_id
)
SELECT r.id, r.merchant_id, p.card_id, p.id FROM recorded r JOIN posted p ON p.id = r.transaction_id
""").bindparams(
    sa.bindparam("cards", type_=postgresql.ARRAY(sa.BigInteger)),
    sa.bindparam("breakage", type_=postgresql.ARRAY(sa.BigInteger)),
    sa.bindparam("now", type_=UTCDateTime(timezone=True)),
)


def _post_in_sql(session: Session, card_ids: list[int], breakage: dict[str, Account], now: datetime) -> dict[int, int]:
    """What _post_in_python writes, for the cards ``card_ids`` (their accounts locked), in one
    statement (PostgreSQL): no row is built in Python. Returns {card id: transaction id}."""
    currencies = sorted(breakage)
    events = session.execute(_POST_EXPIRIES, {
        "cards": card_ids, "now": now, "actor": SYSTEM.key(), "event_type": TRANSACTION_EVENTS["expire"],
        "currencies": currencies, "exponents": [exponent(currency) for currency in currencies],
        "breakage": [breakage[currency].id for currency in currencies],
    }).all()
    queue_deliveries(session, TRANSACTION_EVENTS["expire"], [(event_id, merchant) for event_id, merchant, _, _ in events],
                     now=now)
    return {card_id: transaction_id for _, _, card_id, transaction_id in events}


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
    breakage = {currency: system_account(session, "breakage", currency) for currency in {c.currency for c in paying}}
    if session.connection().dialect.name == "postgresql":
        transaction_ids = _post_in_sql(session, [card.id for card in paying], breakage, now)
    else:
        transaction_ids = _post_in_python(session, paying, held, locked, breakage, now)
    # The accounts are locked and hold exactly what moves to breakage, so each ends at zero.
    session.execute(
        sa.update(Account).where(among(session, Account.id, held)).values(balance=0),
        execution_options={"synchronize_session": False},
    )
    _in_step(session, Account, held, balance=0)
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
    return len(cards), transaction_ids


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
