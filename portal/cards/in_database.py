"""A card payment and a cash top-up on PostgreSQL in one round trip: one call of
``giftloop_redeem`` or ``giftloop_load_cash``. For an API redemption the call also keeps the
request's idempotency record (``AnswerRecord``) and may find the card by its code itself.

Each function does the whole write set of ``redeem`` or ``load`` under the card's lock: the replay
look-up, the rules, the limit-checked balance updates, the transaction and its entries, the event
with its webhook deliveries and the owner's receipt. A refusal comes back as an outcome with
nothing written, and ``portal.cards.operations`` raises for it the same DomainError as on the
Python path, with the same message: the rules' words live in Python (see ``portal.ledger.in_database``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.cards.lookup import CardName, refresh_card
from portal.events.deliveries import remember as relay_deliveries
from portal.events.payloads import checked
from portal.formatting import day
from portal.ledger import Actor
from portal.ledger.in_database import NO_RECORD, AnswerRecord, AnsweredEarlier, call
from portal.ledger.posting import attach_posted, set_loaded_balance, transaction_values
from portal.models import GiftCard, Merchant, Transaction, utcnow
from portal.money import Money, exponent
from portal.notifications.outbox import remember as relay_emails


@dataclass
class Outcome:
    """What the call did: ``paid`` (with the transaction), or the refusal's name (nothing written):
    new_code, replay, currency, unusable, held, empty, insufficient."""

    name: str
    card_balance: int | None
    transaction: Transaction | None = None
    applied: int = 0
    answer: dict | None = None  # kept with the API request's record (``AnswerRecord``)


def _receipt_merchant(session: Session, merchant: Merchant | None, actor: Actor) -> str | None:
    """The name the receipt gives the shop: the transaction's merchant's (``redemption_receipt``)."""
    if merchant is not None:
        return merchant.name
    shop = session.get(Merchant, actor.merchant_id) if actor.merchant_id is not None else None
    return shop.name if shop is not None else None


def _call_redeem(
    session: Session,
    name: CardName,
    amount: Money,
    *,
    actor: Actor,
    idempotency_key: str,
    request_hash: str | tuple[str, str],
    merchant: Merchant | None,
    allow_partial: bool,
    reference: str | None,
    receipt: bool,
    now: datetime,
    record: AnswerRecord,
) -> tuple[sa.Row, datetime]:
    """Call giftloop_redeem once; raise AnsweredEarlier when the request's key is taken.

    ``request_hash``: the ledger's fingerprint of the request, or its text around the card's id
    (``fingerprint_around``) when the call finds the card.

    Raise ValueError for a full card code in ``reference`` (the event would carry it), as
    ``record`` does on the Python path.
    """
    checked({"reference": reference})
    written_at = utcnow()
    head, tail = (None, None) if isinstance(request_hash, str) else request_hash
    row = call(session, "giftloop_redeem", [
        ("card_id", "bigint", name.card_id), ("code_id", "bigint", name.code_id),
        ("lookup_hash", "text", name.lookup_hash), ("amount", "bigint", amount.minor),
        ("currency", "text", amount.currency), ("exponent", "int", exponent(amount.currency)),
        ("merchant_id", "bigint", merchant.id if merchant else None),
        ("merchant_currency", "text", merchant.currency if merchant else None),
        ("memo_suffix", "text", f" at {merchant.name}" if merchant else ""),
        ("allow_partial", "boolean", bool(allow_partial)), ("reference", "text", reference),
        ("actor", "text", actor.key()), ("user_id", "bigint", actor.user_id), ("token_id", "bigint", actor.token_id),
        ("actor_merchant_id", "bigint", actor.merchant_id), ("key", "text", idempotency_key),
        ("request_hash", "text", request_hash if isinstance(request_hash, str) else None),
        ("now", "timestamptz", now), ("written_at", "timestamptz", written_at),
        ("receipt", "boolean", receipt), ("receipt_at", "text", f"{day(written_at)}, {written_at:%H:%M} UTC"),
        ("receipt_merchant", "text", _receipt_merchant(session, merchant, actor) if receipt else None),
        ("request_head", "text", head), ("request_tail", "text", tail),
        *record.arguments(),
    ])
    if row.outcome in ("stored", "in_progress"):
        raise AnsweredEarlier(row.record_id)
    if row.outcome == "paid":
        relay_deliveries(session, list(row.delivery_ids or []))
        relay_emails(session, [row.outbox_id] if row.outbox_id is not None else [])
    return row, written_at


def pay(
    session: Session,
    card: GiftCard,
    amount: Money,
    *,
    actor: Actor,
    idempotency_key: str,
    request_hash: str,
    merchant: Merchant | None,
    allow_partial: bool,
    reference: str | None,
    receipt: bool,
    now: datetime,
    record: AnswerRecord = NO_RECORD,
) -> Outcome:
    """Pay from a loaded card in one call; the card's changeable fields come back as read under its lock."""
    row, written_at = _call_redeem(
        session, CardName(card_id=card.id, code_id=card.code_id), amount, actor=actor,
        idempotency_key=idempotency_key, request_hash=request_hash, merchant=merchant, allow_partial=allow_partial,
        reference=reference, receipt=receipt, now=now, record=record,
    )
    _refresh(session, card, row)
    if row.outcome != "paid":
        return Outcome(row.outcome, row.card_balance)
    set_committed_value(card.account, "balance", row.card_balance)
    set_loaded_balance(session, row.payee_id, row.payee_balance)
    values = transaction_values(
        actor, kind="redeem", idempotency_key=idempotency_key, request_hash=request_hash, memo=row.memo_written,
        card_id=card.id, merchant_id=merchant.id if merchant else None, reference=reference, reverses_id=None,
        created_at=written_at,
    )
    card_entry, payee_entry = row.entry_ids
    entry = {"transaction_id": row.new_transaction_id, "currency": card.currency}
    transaction = attach_posted(session, row.new_transaction_id, values, [
        (card_entry, {**entry, "account_id": card.account_id, "amount": -row.applied}, card.account),
        (payee_entry, {**entry, "account_id": row.payee_id, "amount": row.applied}, None),
    ])
    return Outcome("paid", row.card_balance, transaction, row.applied, row.answer)


@dataclass
class NamedPayment:
    """A payment from a card the call found by its name: the answer's values it kept with the
    request's record, and what a grant to name the card by id needs."""

    answer: dict
    card_id: int
    lookup_hash: str


def pay_named(session: Session, name: CardName, amount: Money, *, record: AnswerRecord, **options) -> NamedPayment | str:
    """Pay from the card ``name`` names, found and locked by the call, keeping the API request's
    record: the payment, or the refusal's outcome (``no_card`` or one of ``Outcome``'s; nothing
    written). Raise AnsweredEarlier when the request's key is taken."""
    row, _ = _call_redeem(session, name, amount, record=record, **options)
    if row.outcome != "paid":
        return row.outcome
    return NamedPayment(row.answer, row.card_id, row.code_lookup_hash)


def _refresh(session: Session, card: GiftCard, row) -> None:
    """The card's changeable fields as the call read them under its lock (or changed them)."""
    refresh_card(session, card, {
        "status": row.card_status, "owner_id": row.card_owner_id, "expires_at": row.card_expires_at,
        "merchant_id": row.card_merchant_id, "code_id": row.card_code_id,
    })
    if row.outcome not in ("paid", "loaded"):
        # The call does not answer the card's network: a refusal's words read it again, under our lock.
        session.expire(card, ["network_id"])


def load_cash(
    session: Session,
    card: GiftCard,
    amount: Money,
    *,
    actor: Actor,
    idempotency_key: str,
    request_hash: str,
    merchant: Merchant | None,
    extend_days: int | None,
    now: datetime,
) -> Outcome:
    """Call giftloop_load_cash once: ``loaded`` (with the transaction), or replay, unusable,
    over_maximum (nothing written). ``extend_days``: a purchased card's expiry moves to that many
    days from ``now`` unless it is later already."""
    written_at = utcnow()
    row = call(session, "giftloop_load_cash", [
        ("card_id", "bigint", card.id), ("code_masked", "text", card.code.masked), ("amount", "bigint", amount.minor),
        ("exponent", "int", exponent(card.currency)), ("merchant_id", "bigint", merchant.id if merchant else None),
        ("merchant_currency", "text", merchant.currency if merchant else None), ("actor", "text", actor.key()),
        ("user_id", "bigint", actor.user_id), ("token_id", "bigint", actor.token_id),
        ("actor_merchant_id", "bigint", actor.merchant_id), ("key", "text", idempotency_key),
        ("request_hash", "text", request_hash), ("now", "timestamptz", now), ("written_at", "timestamptz", written_at),
        ("extend_days", "int", extend_days), ("receipt_at", "text", f"{day(written_at)}, {written_at:%H:%M} UTC"),
    ])
    _refresh(session, card, row)
    if row.outcome != "loaded":
        return Outcome(row.outcome, row.card_balance)
    set_committed_value(card.account, "balance", row.card_balance)
    set_loaded_balance(session, row.cash_id, row.cash_balance)
    values = transaction_values(
        actor, kind="load", idempotency_key=idempotency_key, request_hash=request_hash, memo="Top-up from cash",
        card_id=card.id, merchant_id=merchant.id if merchant else None, reference=None, reverses_id=None,
        created_at=written_at,
    )
    cash_entry, card_entry = row.entry_ids
    entry = {"transaction_id": row.new_transaction_id, "currency": card.currency}
    transaction = attach_posted(session, row.new_transaction_id, values, [
        (cash_entry, {**entry, "account_id": row.cash_id, "amount": -amount.minor}, None),
        (card_entry, {**entry, "account_id": card.account_id, "amount": amount.minor}, card.account),
    ])
    relay_deliveries(session, list(row.delivery_ids or []))
    relay_emails(session, [row.outbox_id] if row.outbox_id is not None else [])
    return Outcome("loaded", row.card_balance, transaction, amount.minor)
