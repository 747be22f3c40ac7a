"""Holds: an amount reserved on a card for a sale not yet complete, then captured, released or lapsed.

Placing a hold moves the amount from the card's account to the card's holds account
("holds:{card id}") in one ledger transaction, through the same limit-enforcing UPDATE as a
payment: so the card's balance IS what is available and every payment path refuses held money
without knowing of holds. Capturing moves the captured part to the merchant as a payment would
and the rest back to the card; releasing and lapsing move it all back. A hold changes state by
one conditional UPDATE (``WHERE state = 'open'``), so of two tills finishing it exactly one wins.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.bulk import add_rows, among, insert_rows
from portal.cards.lookup import long_date, lock_card, lock_card_and_read, usable_at
from portal.cards.operations import HELD, payee_account, refuse_by_programme, same_currency
from portal.cards.transfers import held_subquery
from portal.errors import DomainError, InsufficientFunds, NotFound, ValidationError
from portal.events import Movement, record_movements
from portal.events.payloads import card_data
from portal.ledger import SYSTEM, Actor, account_for, balance_by_key, balance_of, fingerprint, post_or_replay, replay, system_account
from portal.ledger.posting import posted_under, set_loaded_balance
from portal.models import Account, Code, Entry, GiftCard, Merchant, Transaction, utcnow
from portal.models.holds import Hold
from portal.money import Money, display

DEFAULT_HOURS = 7 * 24
MAX_HOURS = 30 * 24
NO_SUCH_HOLD = "No hold has that number"
# A card still in use takes back what a hold did not spend; a closed one's goes to breakage, as its balance did.
OPEN_CARD = ("active", "frozen")


class HoldNotOpen(DomainError):
    """The hold was already captured, released or lapsed."""

    code = "hold_not_open"


def holds_account(session: Session, card: GiftCard) -> Account:
    """The account that keeps a card's open holds: it holds exactly their sum (``ledger.verify``)."""
    return account_for(session, f"holds:{card.id}", "holds", card.currency)


def held_on(session: Session, card: GiftCard) -> int:
    """What the card's open holds reserve, in minor units (0 if it never had one)."""
    return balance_by_key(session, f"holds:{card.id}")


def _lapses_at(card: GiftCard, hours: int | None, now: datetime) -> datetime:
    """When a new hold lapses: after ``hours`` (7 days if not given), and never after the card expires."""
    if hours is None:
        hours = DEFAULT_HOURS
    if type(hours) is not int or not 1 <= hours <= MAX_HOURS:
        raise ValidationError(f"A hold lasts from 1 to {MAX_HOURS} hours", field="expires_in_hours")
    return min(now + timedelta(hours=hours), card.expires_at)


def _placed_by(session: Session, transaction: Transaction) -> Hold:
    return session.scalar(sa.select(Hold).where(Hold.placed_transaction_id == transaction.id))


def place_hold(
    session: Session,
    card: GiftCard,
    amount: Money,
    *,
    actor: Actor,
    idempotency_key: str,
    merchant: Merchant | None,
    reference: str | None = None,
    expires_in_hours: int | None = None,
    now: datetime | None = None,
) -> Hold:
    """Reserve ``amount`` of the card's available balance for ``merchant`` until captured or released.

    The rules are a payment's (the programme's rule for gift cards, ``usable_at``, ``same_currency``,
    a card waiting for a friend).
    It lapses after ``expires_in_hours`` (default 7 days, at most 30), never after the card's own
    expiry. Raise InsufficientFunds if the card has less available, CardCancelled/CardFrozen/
    CardExpired/NotValidHere/CurrencyMismatch if it cannot pay here, ValidationError for a
    bad duration or a card waiting for a friend, NotFound if it got a new code since it was
    looked up, IdempotencyConflict.
    """
    now = now or utcnow()
    request = fingerprint(
        "hold", card.id, amount.minor, amount.currency, merchant.id if merchant else None, reference, expires_in_hours,
    )
    refuse_by_programme(session, actor, idempotency_key, request, merchant)
    earlier_id, waiting = lock_card_and_read(
        session, card, posted_under(actor, idempotency_key), held_subquery(card, now), by_code=True
    )
    if earlier_id is not None and (earlier := replay(session, actor, idempotency_key, request)) is not None:
        return _placed_by(session, earlier)
    same_currency(card, amount)
    usable_at(card, merchant, now)
    if waiting:
        raise ValidationError(HELD)
    expires_at = _lapses_at(card, expires_in_hours, now)
    try:
        transaction, replayed = post_or_replay(
            session, kind="hold", actor=actor, idempotency_key=idempotency_key, request_hash=request,
            legs=[(card.account, -amount.minor), (holds_account(session, card), amount.minor)], card_id=card.id,
            merchant_id=merchant.id if merchant else None, reference=reference,
            memo=f"Held {amount.display()}" + (f" for {merchant.name}" if merchant else ""),
        )
    except InsufficientFunds:
        available = display(balance_of(session, card.account_id), card.currency)
        raise InsufficientFunds(
            f"This card has {available} available; {amount.display()} is more than that"
        ) from None
    if replayed:
        return _placed_by(session, transaction)
    hold = Hold(
        card_id=card.id, merchant_id=merchant.id if merchant else None, amount=amount.minor, currency=card.currency,
        state="open", reference=reference, placed_transaction_id=transaction.id, created_at=now, expires_at=expires_at,
    )
    session.add(hold)
    session.flush()
    return hold


def own_hold(session: Session, hold_id: int, merchant: Merchant | None) -> Hold:
    """The hold by number: any for an admin (``merchant`` None), for staff only their store's.

    Raise NotFound otherwise: another store's hold is as unknown as a number never used.
    """
    hold = session.get(Hold, hold_id)
    if hold is None or (merchant is not None and hold.merchant_id != merchant.id):
        raise NotFound(NO_SUCH_HOLD, field="id")
    return hold


def refuse_finished(hold: Hold, now: datetime, *, capturing: bool) -> None:
    """Raise HoldNotOpen if the hold can no longer be captured (``capturing``) or released.

    A hold past its time can still be released (the sweep would free it anyway), not captured.
    """
    if hold.state == "captured":
        raise HoldNotOpen(f"This hold was already captured ({display(hold.captured, hold.currency)})")
    if hold.state == "released":
        raise HoldNotOpen("This hold was already released")
    if hold.state == "lapsed":
        raise HoldNotOpen(f"This hold lapsed on {long_date(hold.expires_at)}; nothing is held any more")
    if capturing and hold.expires_at <= now:
        raise HoldNotOpen(f"This hold lapsed on {long_date(hold.expires_at)}, so it can no longer be captured")


def _finish(
    session: Session, hold: Hold, state: str, *, captured: int | None, now: datetime, actor: Actor,
    idempotency_key: str, request: str,
) -> Transaction | None:
    """Move the hold from open to ``state`` in one conditional UPDATE (of two tills, one wins);
    None when this request did. Otherwise return the transaction of an earlier request under the
    same key (its answer is ours), or raise HoldNotOpen as ``refuse_finished`` says."""
    capturing = state == "captured"
    claim = (
        sa.update(Hold)
        .where(Hold.id == hold.id, Hold.state == "open", *((Hold.expires_at > now,) if capturing else ()))
        .values(state=state, captured=captured, finished_at=now)
        .returning(Hold.id)
    )
    if session.execute(claim, execution_options={"synchronize_session": False}).scalar() is None:
        session.refresh(hold)
        if (earlier := replay(session, actor, idempotency_key, request)) is not None:
            return earlier
        refuse_finished(hold, now, capturing=capturing)
        # The UPDATE, under the row's lock, found it finished or past its time: never go on to move money.
        raise RuntimeError(f"hold {hold.id} is open yet could not be finished")
    session.refresh(hold)
    return None


def _back_to(session: Session, card: GiftCard) -> Account:
    return card.account if card.status in OPEN_CARD else system_account(session, "breakage", card.currency)


def capture_hold(
    session: Session,
    hold_id: int,
    amount: Money | None,
    *,
    actor: Actor,
    idempotency_key: str,
    merchant: Merchant | None,
    now: datetime | None = None,
) -> Hold:
    """Take ``amount`` (all of it if None) of an open hold as a payment to the merchant that placed
    it; what is not taken goes back to the card, in the same transaction.

    Staff (``merchant``) capture their store's holds, admins any. Raise NotFound for an unknown
    hold or another store's, HoldNotOpen if it was captured, released or has lapsed, ValidationError
    for more than the hold, CurrencyMismatch, CardFrozen/CardCancelled/CardExpired as a payment
    would be refused, IdempotencyConflict.
    """
    now = now or utcnow()
    request = fingerprint("capture", hold_id, amount.minor if amount else None, amount.currency if amount else None)
    if (earlier := replay(session, actor, idempotency_key, request)) is not None:
        return session.scalar(sa.select(Hold).where(Hold.finished_transaction_id == earlier.id))
    hold = own_hold(session, hold_id, merchant)
    card = lock_card(session, hold.card)
    refuse_finished(hold, now, capturing=True)
    taken = Money(hold.amount, hold.currency) if amount is None else amount
    same_currency(card, taken)
    if taken.minor > hold.amount:
        raise ValidationError(
            f"This hold is for {display(hold.amount, hold.currency)}; capture at most that", field="amount"
        )
    usable_at(card, hold.merchant, now)
    if (earlier := _finish(
        session, hold, "captured", captured=taken.minor, now=now, actor=actor, idempotency_key=idempotency_key,
        request=request,
    )) is not None:
        return session.scalar(sa.select(Hold).where(Hold.finished_transaction_id == earlier.id))
    rest = hold.amount - taken.minor
    legs = [(holds_account(session, card), -hold.amount), (payee_account(session, hold.merchant, card.currency), taken.minor)]
    memo = f"Captured {taken.display()} of a hold" + (f" at {hold.merchant.name}" if hold.merchant else "")
    return _post_finish(
        session, hold, card, "capture", legs + ([(_back_to(session, card), rest)] if rest else []), memo=memo,
        actor=actor, idempotency_key=idempotency_key, request=request,
    )


def release_hold(
    session: Session, hold_id: int, *, actor: Actor, idempotency_key: str, merchant: Merchant | None,
    now: datetime | None = None,
) -> Hold:
    """Give the whole of an open hold back to the card (to breakage if the card has closed since).

    Staff (``merchant``) release their store's holds, admins any. Raise NotFound for an unknown
    hold or another store's, HoldNotOpen if it was captured, released or lapsed, IdempotencyConflict.
    """
    now = now or utcnow()
    request = fingerprint("release", hold_id)
    if (earlier := replay(session, actor, idempotency_key, request)) is not None:
        return session.scalar(sa.select(Hold).where(Hold.finished_transaction_id == earlier.id))
    hold = own_hold(session, hold_id, merchant)
    card = lock_card(session, hold.card)
    refuse_finished(hold, now, capturing=False)
    if (earlier := _finish(
        session, hold, "released", captured=None, now=now, actor=actor, idempotency_key=idempotency_key,
        request=request,
    )) is not None:
        return session.scalar(sa.select(Hold).where(Hold.finished_transaction_id == earlier.id))
    legs = [(holds_account(session, card), -hold.amount), (_back_to(session, card), hold.amount)]
    return _post_finish(
        session, hold, card, "release", legs, memo=f"Released a hold of {display(hold.amount, hold.currency)}",
        actor=actor, idempotency_key=idempotency_key, request=request,
    )


def _post_finish(
    session: Session, hold: Hold, card: GiftCard, kind: str, legs: list, *, memo: str, actor: Actor,
    idempotency_key: str, request: str,
) -> Hold:
    """Post the transaction that finishes a hold just claimed, and name it on the hold."""
    transaction, _ = post_or_replay(
        session, kind=kind, actor=actor, idempotency_key=idempotency_key, request_hash=request, legs=legs,
        card_id=card.id, merchant_id=hold.merchant_id, reference=hold.reference, memo=memo,
    )
    hold.finished_transaction_id = transaction.id
    session.flush()
    return hold


def lapse_due(session: Session, now: datetime | None = None, *, limit: int = 5_000) -> int:
    """Lapse the open holds past their time (the sweep), set-based; returns how many lapsed.

    A few statements whatever their number: lock the cards with due holds (skipping any a till
    holds: the next sweep takes them), mark their due holds lapsed, one ``lapse`` transaction per
    hold under the system key "lapse:hold:{id}" moving the amount back to the card (to breakage
    if the card has closed), the balance changes (stored value in id order, then breakage, as the
    expiry sweep does), and the ``hold.lapsed`` events.
    """
    now = now or utcnow()
    due = sa.and_(Hold.state == "open", Hold.expires_at <= now)
    cards = {row.id: row for row in session.execute(
        sa.select(GiftCard.id, GiftCard.account_id, GiftCard.status, GiftCard.currency, GiftCard.merchant_id,
                  GiftCard.owner_id, GiftCard.code_id)
        .where(GiftCard.id.in_(sa.select(Hold.card_id).where(due).order_by(Hold.expires_at, Hold.id).limit(limit)))
        .order_by(GiftCard.id)
        .with_for_update(skip_locked=True)
    )}
    if not cards:
        return 0
    lapsed = session.execute(
        sa.update(Hold).where(among(session, Hold.card_id, cards), due).values(state="lapsed", finished_at=now)
        .returning(Hold.id, Hold.card_id, Hold.amount, Hold.currency, Hold.merchant_id, Hold.reference)
        .execution_options(synchronize_session=False)
    ).all()
    if not lapsed:
        return 0
    lapsed.sort(key=lambda hold: hold.id)
    keeping = dict(session.execute(
        sa.select(Account.key, Account.id).where(among(session, Account.key, [f"holds:{card}" for card in cards]))
    ).all())
    breakage = {
        currency: system_account(session, "breakage", currency).id
        for currency in {cards[hold.card_id].currency for hold in lapsed if cards[hold.card_id].status not in OPEN_CARD}
    }

    def back_to(hold) -> int:
        card = cards[hold.card_id]
        return card.account_id if card.status in OPEN_CARD else breakage[card.currency]

    transaction_ids = insert_rows(
        session, Transaction,
        ["kind", "actor", "idempotency_key", "request_hash", "card_id", "merchant_id", "reference", "memo", "created_at"],
        [
            ("lapse", SYSTEM.key(), f"lapse:hold:{hold.id}", fingerprint("lapse", hold.id), hold.card_id,
             hold.merchant_id, hold.reference, f"A hold of {display(hold.amount, hold.currency)} lapsed", now)
            for hold in lapsed
        ],
    )
    add_rows(session, Entry, ["transaction_id", "account_id", "amount", "currency"], [
        (transaction_id, account_id, amount, hold.currency)
        for hold, transaction_id in zip(lapsed, transaction_ids, strict=True)
        for account_id, amount in ((keeping[f"holds:{hold.card_id}"], -hold.amount), (back_to(hold), hold.amount))
    ])
    session.execute(sa.update(Hold), [
        {"id": hold.id, "finished_transaction_id": transaction_id} for hold, transaction_id in zip(lapsed, transaction_ids)
    ])
    deltas: dict[int, int] = defaultdict(int)
    for hold in lapsed:
        deltas[keeping[f"holds:{hold.card_id}"]] -= hold.amount
        deltas[back_to(hold)] += hold.amount
    balances = _change_balances(session, deltas, last=set(breakage.values()))
    _record_lapses(session, lapsed, transaction_ids, cards, balances, now)
    return len(lapsed)


def _change_balances(session: Session, deltas: dict[int, int], *, last: set[int]) -> dict[int, int]:
    """Add each delta to its account's balance, in id order with ``last`` after the rest (as every
    sweep orders breakage), in one batch of statements; returns the new balances."""
    accounts = Account.__table__
    ordered = sorted(deltas, key=lambda account_id: (account_id in last, account_id))
    session.connection().execute(
        accounts.update().where(accounts.c.id == sa.bindparam("account"))
        .values(balance=accounts.c.balance + sa.bindparam("delta")),
        [{"account": account_id, "delta": deltas[account_id]} for account_id in ordered],
    )
    balances = dict(session.execute(sa.select(Account.id, Account.balance).where(among(session, Account.id, ordered))).all())
    for account_id, balance in balances.items():
        set_loaded_balance(session, account_id, balance)
    return balances


def _record_lapses(session: Session, lapsed: list, transaction_ids: list[int], cards: dict, balances: dict,
                   now: datetime) -> None:
    """The ``hold.lapsed`` event of each lapse, as ``post`` writes one: what came back to the card."""
    masked = dict(session.execute(
        sa.select(Code.id, Code.masked).where(among(session, Code.id, [card.code_id for card in cards.values()]))
    ).all())
    record_movements(session, [
        Movement(
            transaction_id=transaction_id, kind="lapse",
            amount=hold.amount if cards[hold.card_id].status in OPEN_CARD else 0, currency=hold.currency,
            balance=balances.get(cards[hold.card_id].account_id), account="card",
            card=card_data(cards[hold.card_id], code_masked=masked[cards[hold.card_id].code_id]),
            customer_id=cards[hold.card_id].owner_id, merchant_id=hold.merchant_id, reference=hold.reference,
        )
        for hold, transaction_id in zip(lapsed, transaction_ids, strict=True)
    ], now=now)
