"""Expiry: at the end of its date a card's remaining balance moves to breakage; an admin can undo it.

Each expiry is one ``expire`` transaction under the system key "expire:card:{id}" (then
"expire:card:{id}:2", … for a card that was reinstated and expired again), so a sweep run twice or
by two workers expires a card once.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.cards.lookup import lock_card, locked_balance
from portal.cards.transfers import end_pending
from portal.errors import ValidationError
from portal.ledger import SYSTEM, Actor, audit, fingerprint, post, required_reason, system_account
from portal.models import GiftCard, Transaction, utcnow
from portal.notifications.messages import card_expired


def expire_card(session: Session, card: GiftCard, *, now: datetime | None = None) -> Transaction | None:
    """Expire a card whose date has passed; returns the expire transaction, or None if nothing moved."""
    now = now or utcnow()
    lock_card(session, card)
    if card.status in ("expired", "cancelled") or card.expires_at > now:
        return None
    balance = locked_balance(session, card)
    card.status = "expired"
    end_pending(session, card, "lapsed", now)
    session.flush()
    card_expired(session, card, lost=balance)
    if balance == 0:
        return None
    earlier = session.scalar(
        sa.select(sa.func.count(Transaction.id)).where(Transaction.card_id == card.id, Transaction.kind == "expire")
    )
    key = f"expire:card:{card.id}" + (f":{earlier + 1}" if earlier else "")
    return post(
        session, kind="expire", actor=SYSTEM, idempotency_key=key, request_hash=fingerprint("expire", card.id, earlier),
        legs=[(card.account, -balance), (system_account(session, "breakage", card.currency), balance)],
        card_id=card.id, memo=f"Expired on {card.expires_at.date().isoformat()}",
    )


def expire_due(session: Session, now: datetime | None = None, *, limit: int = 500) -> int:
    """Expire up to ``limit`` cards whose date has passed (the daily sweep); returns how many."""
    now = now or utcnow()
    due = session.scalars(
        sa.select(GiftCard)
        .where(GiftCard.status.in_(("active", "frozen")), GiftCard.expires_at <= now)
        .order_by(GiftCard.expires_at, GiftCard.id)
        .limit(limit)
    ).all()
    for card in due:
        expire_card(session, card, now=now)
    return len(due)


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
