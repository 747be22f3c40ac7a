"""A paid gift's life after purchase: sent, cancelled (refunded), expired (refunded), or removed unpaid.

Each change of status is one conditional UPDATE (``… WHERE status IN (…) RETURNING``), so two
requests at once can never both send, cancel or expire the same gift. A refund mirrors the
payment with a ``refund`` transaction that names it (``reverses_id`` is unique: at most one).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.cards.codes import CodeVault
from portal.cards.lookup import long_date
from portal.errors import AlreadyRedeemed, CardCancelled, CardExpired, NotFound, ValidationError
from portal.events import kinds as events
from portal.gifts.codes import full_code
from portal.gifts.messages import gift_received
from portal.gifts.purchase import NOT_YOURS
from portal.ledger import SYSTEM, Actor, audit, post
from portal.models import Code, Transaction, User, utcnow
from portal.models.gifts import GiftSubscription

UNPAID_HOURS = 24


def _change(session: Session, gift: GiftSubscription, from_statuses: tuple[str, ...], **values) -> bool:
    """Move the gift on if it is still in one of ``from_statuses``; False if someone else moved it first."""
    moved = session.execute(
        sa.update(GiftSubscription)
        .where(GiftSubscription.id == gift.id, GiftSubscription.status.in_(from_statuses))
        .values(**values)
        .returning(GiftSubscription.id),
        execution_options={"synchronize_session": False},
    ).scalar()
    session.refresh(gift)
    return moved is not None


def refuse_ended(gift: GiftSubscription, now: datetime) -> None:
    """Raise why a gift can no longer be sent, cancelled or redeemed, if it cannot."""
    if gift.status == "redeemed":
        raise AlreadyRedeemed("This gift was already redeemed", field="gift_code")
    if gift.status == "cancelled":
        raise CardCancelled("The sender cancelled this gift", field="gift_code")
    if gift.status == "expired" or gift.expires_at <= now:
        raise CardExpired(f"This gift expired on {long_date(gift.expires_at)}", field="gift_code")


def send_gift(
    session: Session, vault: CodeVault, gift: GiftSubscription, *, user: User, now: datetime | None = None
) -> GiftSubscription:
    """Send a paid gift: the named friend gets its code by e-mail; for an open gift the buyer hands it on.

    Raise NotFound if the user is not the buyer, ValidationError if it is unpaid or already sent,
    CardCancelled, CardExpired or AlreadyRedeemed if it has ended.
    """
    now = now or utcnow()
    if gift.buyer_id != user.id:
        raise NotFound(NOT_YOURS)
    refuse_ended(gift, now)
    if not gift.paid:  # once paid, always paid: this cannot go stale the wrong way
        raise ValidationError("Pay for the gift before sending it")
    if not _change(session, gift, ("created",), status="sent", sent_at=now):
        refuse_ended(gift, now)
        raise ValidationError("This gift was already sent")
    gift_received(session, gift, full_code(vault, gift))
    audit(session, Actor(user_id=user.id), "gift.sent", f"gift:{gift.id}", to_email=gift.recipient_email)
    events.gift_changed(session, "gift.sent", gift)
    session.flush()
    return gift


def refund(session: Session, gift: GiftSubscription, actor: Actor) -> Transaction | None:
    """Give back what the gift cost, to the wallet or Loops it came from; None if nothing was paid."""
    if gift.payment_transaction_id is None:
        return None
    payment = session.get(Transaction, gift.payment_transaction_id)
    transaction = post(
        session, kind="refund", actor=actor, idempotency_key=f"gift-refund:{gift.id}",
        request_hash=f"gift-refund:{gift.id}", reverses_id=payment.id, memo=f"Refund of gift {gift.id}",
        legs=[(entry.account, -entry.amount) for entry in payment.entries],
    )
    gift.refund_transaction_id = transaction.id
    session.flush()
    return transaction


def cancel_gift(session: Session, gift: GiftSubscription, *, user: User, now: datetime | None = None) -> GiftSubscription:
    """Cancel a gift not yet redeemed; what was paid goes back where it came from.

    Raise NotFound if the user is not the buyer, AlreadyRedeemed if the friend redeemed it first,
    ValidationError if it already ended.
    """
    now = now or utcnow()
    if gift.buyer_id != user.id:
        raise NotFound(NOT_YOURS)
    if not _change(session, gift, ("created", "sent"), status="cancelled", ended_at=now):
        if gift.status == "redeemed":
            raise AlreadyRedeemed("Your friend has already redeemed this gift")
        raise ValidationError(f"This gift has already ended ({gift.status})")
    actor = Actor(user_id=user.id)
    refund(session, gift, actor)
    audit(session, actor, "gift.cancelled", f"gift:{gift.id}")
    session.flush()
    return gift


def expire_due(session: Session, now: datetime | None = None) -> int:
    """Expire every paid gift past its date, sent or not (a program may pay and never send), and
    refund it; returns how many. Unpaid ones are ``remove_unpaid``'s."""
    now = now or utcnow()
    due = session.scalars(
        sa.select(GiftSubscription).where(
            GiftSubscription.status.in_(("created", "sent")), GiftSubscription.paid_at.is_not(None),
            GiftSubscription.expires_at <= now,
        )
    ).all()
    expired = 0
    for gift in due:
        if _change(session, gift, ("created", "sent"), status="expired", ended_at=now):
            refund(session, gift, SYSTEM)
            audit(session, SYSTEM, "gift.expired", f"gift:{gift.id}")
            expired += 1
    session.flush()
    return expired


def remove_unpaid(session: Session, now: datetime | None = None) -> int:
    """Delete gifts left unpaid for 24 hours, and their codes; returns how many."""
    now = now or utcnow()
    codes = session.scalars(
        sa.delete(GiftSubscription)
        .where(
            GiftSubscription.status == "created",
            GiftSubscription.paid_at.is_(None),
            GiftSubscription.created_at <= now - timedelta(hours=UNPAID_HOURS),
        )
        .returning(GiftSubscription.code_id),
        execution_options={"synchronize_session": False},
    ).all()
    if codes:
        session.execute(sa.delete(Code).where(Code.id.in_(codes)), execution_options={"synchronize_session": False})
    return len(codes)
