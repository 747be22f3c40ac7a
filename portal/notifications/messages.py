"""The messages the card domain sends, one function each: who gets it, under which key, with what.

The domain calls these in its own transaction, right after the change they report; each writes
at most one outbox row (see ``queue_email``; ``cards_expired`` one per card of a sweep's batch)
and decides for itself whether anyone is to be told (a bearer card has nobody to tell; a customer
may have turned receipts off).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.formatting import day
from portal.models import GiftCard, Merchant, Transaction, Transfer, User, utcnow
from portal.models.outbox import OutboxMessage
from portal.notifications.outbox import queue_email, remember

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _on_card(transaction: Transaction, card: GiftCard) -> int:
    """What the transaction moved onto (positive) or off (negative) the card, in minor units."""
    return sum(entry.amount for entry in transaction.entries if entry.account_id == card.account_id)


def _owner(session: Session, card: GiftCard) -> User | None:
    return session.get(User, card.owner_id) if card.owner_id is not None else None


def card_received(session: Session, issued, *, send_to: str | None = None, note: str | None = None) -> int | None:
    """Tell someone about a new card. ``issued`` is an IssuedCard (card, full code, transaction).

    With ``send_to`` the card is a bearer card e-mailed to that address: the message carries the
    full code (encrypted in the outbox) and its QR code. Otherwise the card's owner, if any, is
    told, and the message shows only the masked code: the owner sees the rest in the wallet.
    ``note`` replaces the issuing memo: a buyer's message to the friend they bought the card for.
    """
    card = issued.card
    owner = _owner(session, card)
    if send_to is None and owner is None:
        return None
    context = {
        "amount": _on_card(issued.transaction, card),
        "currency": card.currency,
        "memo": note if note is not None else issued.transaction.memo or "",
        "to_owner": send_to is None,
    }
    return queue_email(
        session, key=f"card_received:{card.id}", to=send_to or owner.email, kind="card_received",
        context=context, card_id=card.id, code=issued.code if send_to else None,
    )


def transfer_invitation(session: Session, transfer: Transfer, claim_code: str) -> int | None:
    """Send the friend a card's claim link, if the owner gave their address."""
    if not transfer.to_email:
        return None
    sender = session.get(User, transfer.from_user_id)
    context = {
        "transfer_id": transfer.id,
        "from_name": (sender.name or sender.email) if sender else "A friend",
        "claim_by": day(transfer.expires_at),
    }
    return queue_email(
        session, key=f"transfer_invitation:{transfer.id}", to=transfer.to_email, kind="transfer_invitation",
        context=context, card_id=transfer.card_id, code=claim_code,
    )


def card_now_yours(session: Session, card: GiftCard, code: str, *, from_user_id: int | None) -> int | None:
    """Send a card's new holder its new code (encrypted in the outbox) after it changed hands.

    The new code is theirs alone, so this goes whatever their receipt setting; ``from_user_id``
    names the friend who gave it (None for a bearer card).
    """
    owner = _owner(session, card)
    giver = session.get(User, from_user_id) if from_user_id is not None else None
    context = {"from_name": (giver.name or giver.email) if giver else None}
    return queue_email(
        session, key=f"card_now_yours:{card.id}:{card.code_id}", to=owner.email, kind="card_now_yours",
        context=context, card_id=card.id, code=code,
    )


def card_rekeyed(session: Session, card: GiftCard, code: str) -> int | None:
    """Send a holder the new code of a card that changed hands before hand-overs re-keyed cards."""
    owner = _owner(session, card)
    if owner is None:
        return None
    return queue_email(
        session, key=f"card_rekeyed:{card.id}:{card.code_id}", to=owner.email, kind="card_rekeyed",
        context={}, card_id=card.id, code=code,
    )


def card_handed_over(session: Session, card: GiftCard, giver_id: int, *, old_masked: str) -> int | None:
    """Tell the card's former owner a friend claimed it. No code, and no card row either: the
    card's page and masked code are the new holder's now, so only the old masked code is named."""
    giver = session.get(User, giver_id)
    context = {"old_code": old_masked, "claimed_on": day(utcnow())}
    return queue_email(
        session, key=f"card_handed_over:{card.id}:{card.code_id}", to=giver.email, kind="card_handed_over",
        context=context,
    )


def _receipt(session: Session, kind: str, card: GiftCard, transaction: Transaction, **extra) -> int | None:
    owner = _owner(session, card)
    if owner is None or not owner.receipts_by_email:
        return None
    context = {
        "transaction_id": transaction.id,
        "amount": abs(_on_card(transaction, card)),
        "currency": card.currency,
        "balance_after": card.account.balance,
        "at": f"{day(transaction.created_at)}, {transaction.created_at:%H:%M} UTC",
        **extra,
    }
    return queue_email(
        session, key=f"{kind}:{transaction.id}", to=owner.email, kind=kind, context=context, card_id=card.id
    )


def redemption_receipt(session: Session, card: GiftCard, transaction: Transaction) -> int | None:
    """A receipt to the card's owner for a payment made with it (unless they turned receipts off)."""
    merchant = session.get(Merchant, transaction.merchant_id) if transaction.merchant_id else None
    return _receipt(session, "redemption_receipt", card, transaction, merchant_name=merchant.name if merchant else None)


def topup_receipt(session: Session, card: GiftCard, transaction: Transaction) -> int | None:
    """A receipt to the card's owner for a top-up (unless they turned receipts off)."""
    return _receipt(session, "topup_receipt", card, transaction, source=transaction.memo.removeprefix("Top-up from "))


def cards_expired(session: Session, cards: list, lost: dict[int, int]) -> list[int]:
    """Tell each owner their card expired and what it held then (``lost``: {card id: minor units},
    absent if nothing) went to breakage: one message per card and expiry date, in one statement.

    ``cards`` are rows of the expiry sweep (id, owner_id, currency, expires_at); bearer cards have
    nobody to tell. Returns the new rows' ids (none for a card and date already told).
    """
    owned = [card for card in cards if card.owner_id is not None]
    if not owned:
        return []
    emails = dict(session.execute(
        sa.select(User.id, User.email).where(User.id.in_({card.owner_id for card in owned}))
    ).all())
    rows = [
        {
            "key": f"card_expired:{card.id}:{card.expires_at.date().isoformat()}", "kind": "card_expired",
            "recipient": emails[card.owner_id], "card_id": card.id, "status": "pending", "attempts": 0,
            "context": {"lost": lost.get(card.id, 0), "currency": card.currency, "expired_on": day(card.expires_at)},
            "created_at": utcnow(),
        }
        for card in owned
    ]
    insert = _INSERTS[session.connection().dialect.name](OutboxMessage).on_conflict_do_nothing(index_elements=["key"])
    ids = list(session.scalars(insert.returning(OutboxMessage.id), rows))
    remember(session, ids)
    return ids


def sale_receipt(
    session: Session, customer: User, merchant: Merchant, reference: str, total: int, currency: str, lines: list[dict]
) -> int | None:
    """One receipt to the customer for a whole sale at a till, once it is paid: the coupon and every
    payment (cards, wallet credit, Loops) with what was left to pay after each. Keyed by the sale,
    so however many payments it took, the customer gets one message."""
    if not customer.receipts_by_email:
        return None
    now = utcnow()
    context = {
        "merchant_name": merchant.name, "total": total, "currency": currency, "lines": lines,
        "at": f"{day(now)}, {now:%H:%M} UTC",
    }
    return queue_email(session, key=f"sale_receipt:{reference}", to=customer.email, kind="sale_receipt", context=context)
