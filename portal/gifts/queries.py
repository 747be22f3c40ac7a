"""What the gift pages and the API list: a buyer's gifts and the gifts addressed to a customer.

Scoping by buyer and by recipient lives here, not in each view.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.campaigns.entitlements import active_entitlements
from portal.models import User
from portal.models.campaigns import Entitlement
from portal.models.gifts import GiftSubscription, SubscriptionPlan


def gifts_sent(session: Session, user: User) -> list[GiftSubscription]:
    """The gifts the user bought, newest first."""
    return list(session.scalars(sa.select(GiftSubscription).where(sent_by(user)).order_by(GiftSubscription.id.desc())))


def sent_by(user: User):
    """Gifts the user bought."""
    return GiftSubscription.buyer_id == user.id


def received_by(user: User):
    """Gifts addressed to the user's e-mail (once sent), and open gifts the user redeemed."""
    return sa.or_(
        sa.and_(GiftSubscription.recipient_email == user.email.lower(), GiftSubscription.sent_at.is_not(None)),
        GiftSubscription.redeemed_by_id == user.id,
    )


def gifts_received(session: Session, user: User) -> list[GiftSubscription]:
    """The gifts the user was sent or redeemed, newest first."""
    return list(
        session.scalars(sa.select(GiftSubscription).where(received_by(user)).order_by(GiftSubscription.id.desc()))
    )


def visible_gift(session: Session, user: User, gift_id: int) -> GiftSubscription | None:
    """The gift if the user bought it or received it; None otherwise, as if it did not exist."""
    return session.scalar(
        sa.select(GiftSubscription).where(
            GiftSubscription.id == gift_id, sa.or_(GiftSubscription.buyer_id == user.id, received_by(user))
        )
    )


def subscriptions(session: Session, user: User) -> list[tuple[Entitlement, SubscriptionPlan | None]]:
    """The user's active subscriptions and feature unlocks, with the plan each one is, if any."""
    held = active_entitlements(session, user)
    plans = {
        p.identifier: p
        for p in session.scalars(
            sa.select(SubscriptionPlan).where(SubscriptionPlan.identifier.in_([e.feature for e in held]))
        )
    }
    return [(entitlement, plans.get(entitlement.feature)) for entitlement in held]
