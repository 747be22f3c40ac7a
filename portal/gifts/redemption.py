"""Redeeming a gift: the friend's subscription starts, the buyer is told, and only once.

The rules (DESIGN §2): the gift is ``sent`` and unexpired (a gift past its date is expired
here even before the sweep marks it) and the redeemer is the named friend if there is one.
Gifts stack (issue 26): a customer who holds the plan already may redeem, and the gift's period
starts when theirs ends. ``check_gift`` answers the same rules without changing anything;
``redeem_gift`` repeats them and wins or loses one conditional UPDATE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.campaigns.entitlements import grant
from portal.cards.codes import CodeVault
from portal.cards.lookup import long_date
from portal.errors import AlreadyRedeemed, DomainError, Forbidden, ValidationError
from portal.events import kinds as events
from portal.gifts.codes import find_gift
from portal.gifts.lifecycle import refuse_ended
from portal.gifts.messages import gift_redeemed
from portal.ledger import Actor, audit
from portal.models import User, utcnow
from portal.models.campaigns import Entitlement
from portal.models.gifts import GiftSubscription


@dataclass
class RedeemedGift:
    gift: GiftSubscription
    subscription: Entitlement

    @property
    def message(self) -> str:
        return f"{self.gift.plan.name} is yours until {long_date(self.subscription.ends_at)}"


@dataclass
class GiftCheck:
    """Whether a gift can be redeemed by this customer now, and if not, why."""

    gift: GiftSubscription
    error: DomainError | None

    # When the redeemer's own subscription of the plan ends, if they hold it: the gift starts then.
    held_until: datetime | None = None

    @property
    def can_redeem(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str:
        if self.error is not None:
            return self.error.message
        days = f"{self.gift.plan.name} for {self.gift.subscription_duration_days} days"
        if self.held_until is not None:
            return f"{days}: ready to redeem, added after yours ends on {long_date(self.held_until)}"
        return f"{days}: ready to redeem"


def refuse_non_customer(user: User) -> None:
    """Only a customer account holds subscriptions."""
    if not user.is_customer:
        raise Forbidden("Only customer accounts can redeem gifts", field="gift_code")


def refuse_unsent(gift: GiftSubscription, now: datetime) -> None:
    """A gift is redeemable once sent, until it ends (redeemed, cancelled, expired by date)."""
    refuse_ended(gift, now)
    if gift.status != "sent":
        raise ValidationError("This gift has not been sent yet", field="gift_code")


def refuse_other_recipient(gift: GiftSubscription, user: User) -> None:
    """A gift for a named friend is theirs alone."""
    if gift.recipient_email and user.email.lower() != gift.recipient_email:
        raise Forbidden("This gift was sent to a different e-mail address", field="gift_code")


def plan_held_until(session: Session, gift: GiftSubscription, user_id: int, now: datetime) -> datetime | None:
    """When the person's own subscription of the gift's plan ends, if they hold one now."""
    return session.scalar(
        sa.select(sa.func.max(Entitlement.ends_at)).where(
            Entitlement.user_id == user_id, Entitlement.feature == gift.plan.identifier, Entitlement.ends_at > now
        )
    )


def recipient_holds_plan_until(session: Session, gift: GiftSubscription, now: datetime) -> datetime | None:
    """For the buyer before paying: when the named friend's own subscription of the plan ends, and
    so the gift's period starts. None for an open gift or a friend without the plan."""
    if not gift.recipient_email:
        return None
    friend = session.scalar(sa.select(User.id).where(User.email == gift.recipient_email))
    return plan_held_until(session, gift, friend, now) if friend is not None else None


def check_redeem(session: Session, gift: GiftSubscription, user: User, now: datetime) -> None:
    """Every rule of redeeming, in the order a person would want to hear about them."""
    refuse_non_customer(user)
    refuse_unsent(gift, now)
    refuse_other_recipient(gift, user)


def check_gift(
    session: Session, vault: CodeVault, text: object, user: User, *, now: datetime | None = None
) -> GiftCheck:
    """Whether this customer could redeem the gift now, changing nothing.

    Raise ValidationError for text not shaped like a gift code, NotFound for an unknown code.
    """
    now = now or utcnow()
    gift = find_gift(session, vault, text)
    try:
        check_redeem(session, gift, user, now)
    except DomainError as error:
        return GiftCheck(gift, error)
    return GiftCheck(gift, None, plan_held_until(session, gift, user.id, now))


def redeem_gift(session: Session, gift: GiftSubscription, user: User, *, now: datetime | None = None) -> RedeemedGift:
    """Start the friend's subscription from this gift, or add it after the one they hold; tell the
    buyer; exactly once under any concurrency.

    Raise Forbidden (not a customer, another address), ValidationError (not sent yet),
    CardExpired, CardCancelled, AlreadyRedeemed.
    """
    now = now or utcnow()
    # One redemption at a time per customer, so two gifts at once both add their days (``grant`` stacks).
    session.execute(sa.select(User.id).where(User.id == user.id).with_for_update())
    session.refresh(gift)  # as it is now that we hold the lock, not as it was when the code was looked up
    check_redeem(session, gift, user, now)
    won = session.execute(
        sa.update(GiftSubscription)
        .where(GiftSubscription.id == gift.id, GiftSubscription.status == "sent", GiftSubscription.expires_at > now)
        .values(status="redeemed", redeemed_by_id=user.id, redeemed_at=now)
        .returning(GiftSubscription.id),
        execution_options={"synchronize_session": False},
    ).scalar()
    session.refresh(gift)
    if won is None:
        refuse_unsent(gift, now)
        raise AlreadyRedeemed("This gift was already redeemed", field="gift_code")
    subscription = grant(session, user, gift.plan.identifier, gift.subscription_duration_days, now=now)
    gift_redeemed(session, gift, user)
    audit(session, Actor(user_id=user.id), "gift.redeemed", f"gift:{gift.id}", plan=gift.plan.identifier)
    events.gift_changed(session, "gift.redeemed", gift)
    session.flush()
    return RedeemedGift(gift, subscription)


def redeem_gift_code(
    session: Session, vault: CodeVault, text: object, user: User, *, now: datetime | None = None
) -> RedeemedGift:
    """Redeem the gift a code names. Raise as ``find_gift`` and ``redeem_gift`` do."""
    return redeem_gift(session, find_gift(session, vault, text), user, now=now)
