"""The e-mails of gift subscriptions, one function each (written to the outbox in the caller's transaction)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.formatting import day
from portal.models import User
from portal.models.gifts import GiftSubscription
from portal.notifications.outbox import queue_email


def _name(user: User | None) -> str:
    return (user.name or user.email) if user else "A friend"


def gift_received(session: Session, gift: GiftSubscription, code: str) -> int | None:
    """Send the named friend the gift and its code (encrypted in the outbox)."""
    if not gift.recipient_email:
        return None
    context = {
        "gift_id": gift.id,
        "from_name": _name(session.get(User, gift.buyer_id)),
        "plan_name": gift.plan.name,
        "days": gift.subscription_duration_days,
        "message": gift.message,
        "redeem_by": day(gift.expires_at),
    }
    return queue_email(
        session, key=f"gift_received:{gift.id}", to=gift.recipient_email, kind="gift_received", context=context,
        code=code,
    )


def gift_redeemed(session: Session, gift: GiftSubscription, redeemer: User) -> int | None:
    """Tell the buyer their gift was redeemed, and by whom."""
    buyer = session.get(User, gift.buyer_id)
    context = {
        "gift_id": gift.id,
        "plan_name": gift.plan.name,
        "by_name": _name(redeemer),
        "days": gift.subscription_duration_days,
    }
    return queue_email(
        session, key=f"gift_redeemed:{gift.id}", to=buyer.email, kind="gift_redeemed", context=context,
    )
