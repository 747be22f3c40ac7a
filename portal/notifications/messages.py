"""The messages the card domain sends, one function each: who gets it, under which key, with what.

The domain calls these in its own transaction, right after the change they report; each writes
at most one outbox row (see ``queue_email``) and decides for itself whether anyone is to be told
(a bearer card has nobody to tell; a customer may have turned receipts off).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.models import GiftCard, Merchant, Transaction, Transfer, User
from portal.notifications.outbox import queue_email
from portal.web.filters import day


def _on_card(transaction: Transaction, card: GiftCard) -> int:
    """What the transaction moved onto (positive) or off (negative) the card, in minor units."""
    return sum(entry.amount for entry in transaction.entries if entry.account_id == card.account_id)


def _owner(session: Session, card: GiftCard) -> User | None:
    return session.get(User, card.owner_id) if card.owner_id is not None else None


def card_received(session: Session, issued, *, send_to: str | None = None) -> int | None:
    """Tell someone about a new card. ``issued`` is an IssuedCard (card, full code, transaction).

    With ``send_to`` the card is a bearer card e-mailed to that address: the message carries the
    full code (encrypted in the outbox) and its QR code. Otherwise the card's owner, if any, is
    told, and the message shows only the masked code: the owner sees the rest in the wallet.
    """
    card = issued.card
    owner = _owner(session, card)
    if send_to is None and owner is None:
        return None
    context = {
        "amount": _on_card(issued.transaction, card),
        "currency": card.currency,
        "memo": issued.transaction.memo or "",
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


def card_expired(session: Session, card: GiftCard, *, lost: int) -> int | None:
    """Tell the owner their card expired and what it held then (``lost``, minor units) went to breakage."""
    owner = _owner(session, card)
    if owner is None:
        return None
    context = {"lost": lost, "currency": card.currency, "expired_on": day(card.expires_at)}
    return queue_email(
        session, key=f"card_expired:{card.id}:{card.expires_at.date().isoformat()}", to=owner.email,
        kind="card_expired", context=context, card_id=card.id,
    )
