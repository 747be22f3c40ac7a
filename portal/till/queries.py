"""What the till reads from the ledger. No HTTP here.

Staff see only what happened at their own counter, and that rule lives in one place:
``at_counter``. Every query of the till, its activity list and its reports goes through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.cards.operations import may_reverse
from portal.errors import NotFound
from portal.models import Code, GiftCard, Merchant, Transaction, User
from portal.money import Money

KIND_LABELS = {
    "issue": "Card sold",
    "load": "Card topped up",
    "redeem": "Card payment",
    "reverse": "Undo",
    "points_earn": "Loops awarded",
    "points_convert": "Loops turned into a card",
    "transfer": "Card given to a friend",
    "expire": "Card expired",
    "reinstate": "Card reinstated",
    "adjust": "Balance corrected",
    "credit_code": "Credit code",
    "gift_purchase": "Gift bought",
    "refund": "Refund",
    "hold": "Hold placed",
    "capture": "Hold captured",
    "release": "Hold released",
    "lapse": "Hold lapsed",
}
# What staff may undo at the counter; the domain has the last word (same day, not undone yet).
UNDOABLE = frozenset({"issue", "load", "redeem", "points_earn"})


TENDER_SOURCES = ("card", "wallet", "loops")
# A payment at the till is a "redeem" whatever paid it; the list names what did.
PAYMENT_LABELS = {"card": "Card payment", "wallet": "Wallet credit payment", "loops": "Loops payment"}


def tender_source(transaction: Transaction) -> str:
    """What paid: the kind of stored-value account the payment took from (card, wallet or loops)."""
    return next(
        (e.account.kind for e in transaction.entries if e.amount < 0 and e.account.kind in TENDER_SOURCES), "card"
    )


def label_of(transaction: Transaction) -> str:
    if transaction.kind == "redeem":
        return PAYMENT_LABELS[tender_source(transaction)]
    return KIND_LABELS.get(transaction.kind, transaction.kind)


def at_counter(merchant: Merchant) -> sa.ColumnElement[bool]:
    """The one scoping rule of the till: transactions made at this merchant's counter."""
    return Transaction.merchant_id == merchant.id


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The first moment of a UTC day and of the day after (the ledger's days are UTC days)."""
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def counter_transaction(session: Session, merchant: Merchant, transaction_id: int) -> Transaction:
    """A transaction made at this counter. Raise NotFound for any other, so others' look absent."""
    transaction = session.scalar(
        sa.select(Transaction).where(at_counter(merchant), Transaction.id == transaction_id)
    )
    if transaction is None:
        raise NotFound("No transaction at this counter has that number")
    return transaction


def transaction_amount(transaction: Transaction) -> Money | None:
    """What a transaction moved: the sum of its credits, in money when it moved money and Loops."""
    credits: dict[str, int] = {}
    for entry in transaction.entries:
        if entry.amount > 0:
            credits[entry.currency] = credits.get(entry.currency, 0) + entry.amount
    if not credits:
        return None
    currency = next((c for c in sorted(credits) if c != "LOOP"), "LOOP")
    return Money(credits[currency], currency)


def undone_ids(session: Session, ids: list[int]) -> set[int]:
    """Which of these transactions have been undone."""
    if not ids:
        return set()
    return set(session.scalars(sa.select(Transaction.reverses_id).where(Transaction.reverses_id.in_(ids))))


def masked_codes(session: Session, card_ids: set[int]) -> dict[int, str]:
    """The masked code of each card, by card id."""
    if not card_ids:
        return {}
    rows = session.execute(
        sa.select(GiftCard.id, Code.masked).join(Code, GiftCard.code_id == Code.id).where(GiftCard.id.in_(card_ids))
    )
    return {card_id: masked for card_id, masked in rows}


@dataclass
class ActivityLine:
    """One row of the activity list."""

    transaction: Transaction
    label: str
    amount: Money | None
    card: str
    staff: str
    undone: bool
    undoable: bool


def activity(session: Session, merchant: Merchant, day: date, today: date, *, limit: int = 500) -> list[ActivityLine]:
    """The day's transactions at this counter, newest first, with what each did and who did it."""
    start, end = day_bounds(day)
    transactions = session.scalars(
        sa.select(Transaction)
        .where(at_counter(merchant), Transaction.created_at >= start, Transaction.created_at < end)
        .order_by(Transaction.created_at.desc(), Transaction.id.desc())
        .limit(limit)
    ).all()
    return lines_for(session, merchant, transactions, today)


def lines_for(session: Session, merchant: Merchant, transactions: list[Transaction], today: date) -> list[ActivityLine]:
    """Activity lines for these transactions (already scoped to this counter by the caller's query).
    Undo is offered only where ``reverse`` would take it from staff today."""
    undone = undone_ids(session, [t.id for t in transactions])
    cards = _cards(session, {t.card_id for t in transactions if t.card_id is not None})
    now = day_bounds(today)[0]  # the reversal rule compares days
    codes = masked_codes(session, {t.card_id for t in transactions if t.card_id is not None})
    people = _names(session, {t.user_id for t in transactions if t.user_id is not None})
    return [
        ActivityLine(
            transaction=t,
            label=label_of(t),
            amount=transaction_amount(t),
            card=codes.get(t.card_id, ""),
            staff=people.get(t.user_id, "API" if t.token_id else ""),
            undone=t.id in undone,
            undoable=t.kind in UNDOABLE and may_reverse(
                t, merchant, now, undone=t.id in undone, card=cards.get(t.card_id)
            ),
        )
        for t in transactions
    ]


def _cards(session: Session, card_ids: set[int]) -> dict[int, GiftCard]:
    if not card_ids:
        return {}
    return {card.id: card for card in session.scalars(sa.select(GiftCard).where(GiftCard.id.in_(card_ids)))}


def _names(session: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = session.execute(sa.select(User.id, User.name, User.email).where(User.id.in_(user_ids)))
    return {user_id: name or email for user_id, name, email in rows}
