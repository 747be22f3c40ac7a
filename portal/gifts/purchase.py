"""Buying a gift: create it (unpaid, with the price after any coupon), then pay for it.

The page does the two steps apart ("Buy a gift" shows a review, "Pay and send" charges);
``POST /gifts/purchase`` does both in one call. Payment is one ``gift_purchase`` ledger
transaction from the buyer's wallet or Loops to the subscriptions account; the coupon's use is
counted in the same database transaction, so a refused payment counts nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.campaigns.codes import display_code
from portal.campaigns.coupons import redeem_coupon, validate_coupon
from portal.cards.codes import CodeVault
from portal.errors import CardCancelled, InsufficientFunds, NotFound, ValidationError
from portal.gifts import rules
from portal.gifts.codes import full_code, new_gift_code, store_code
from portal.gifts.plans import check_subscription_days, find_plan, price_of
from portal.ledger import Actor, audit, fingerprint, post_or_replay, replay, savepoint, system_account
from portal.loyalty.points import loops_account, not_enough_loops
from portal.models import Account, User, utcnow
from portal.models.campaigns import CampaignCode
from portal.models.gifts import GiftSubscription
from portal.money import Money
from portal.wallet import wallet_account

NOT_YOURS = "You have no gift with that number"


def create_gift(
    session: Session,
    vault: CodeVault,
    buyer: User,
    *,
    subscription_identifier: object,
    payment_method: object,
    recipient_email: object = None,
    message: object = None,
    coupon: object = None,
    gift_duration_days: object = None,
    subscription_duration_days: object = None,
    channel: str = "web",
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> tuple[GiftSubscription, str]:
    """A new unpaid gift and its code; the coupon is checked (not yet counted) for the price shown.

    With ``idempotency_key`` (the "Buy a gift" form's), the same key again returns the gift it
    made, so a double submit makes one. Raise Forbidden for a buyer who is not a customer,
    ValidationError for a rule broken (plan, address, message, method, days), and the coupon's
    own refusal (NotFound, CardExpired, NotValidHere, CurrencyMismatch, UsageLimitReached,
    AlreadyRedeemed).
    """
    now = now or utcnow()
    rules.check_buyer(buyer)
    if idempotency_key is not None and (earlier := _made_under(session, buyer, idempotency_key)) is not None:
        return earlier, full_code(vault, earlier)
    plan = find_plan(session, subscription_identifier)
    method = rules.check_payment_method(payment_method)
    email = rules.check_recipient(recipient_email, buyer)
    text = rules.check_message(message)
    days = check_subscription_days(plan, subscription_duration_days)
    gift_days = rules.check_gift_days(gift_duration_days)
    price = price_of(plan, method, days)
    discount, coupon_code = 0, None
    if isinstance(coupon, str) and coupon.strip():
        quote = validate_coupon(
            session, vault, coupon, order_total=price, merchant=None, channel=channel, email=buyer.email,
            user_id=buyer.id, now=now,
        )
        discount, coupon_code = quote.discount.minor, quote.code
    elif coupon is not None and not isinstance(coupon, str):
        raise ValidationError("The coupon must be text, like SAVE10", field="coupon")
    nested = savepoint(session)
    try:
        code = new_gift_code()
        gift = GiftSubscription(
            buyer_id=buyer.id, plan_id=plan.id, recipient_email=email, message=text,
            code_id=store_code(session, vault, code).id, creation_key=idempotency_key, status="created",
            payment_method=method, currency=price.currency, price=price.minor, discount=discount,
            coupon_code_id=coupon_code.id if coupon_code else None,
            coupon_campaign_id=coupon_code.campaign_id if coupon_code else None,
            subscription_duration_days=days, created_at=now, expires_at=now + timedelta(days=gift_days),
        )
        session.add(gift)
        session.flush()
    except IntegrityError:
        # The same key's other submit, a moment earlier, made the gift: that one is the answer.
        nested.rollback()
        if idempotency_key is None or (earlier := _made_under(session, buyer, idempotency_key)) is None:
            raise
        return earlier, full_code(vault, earlier)
    nested.commit()
    return gift, code


def _made_under(session: Session, buyer: User, key: str) -> GiftSubscription | None:
    return session.scalar(
        sa.select(GiftSubscription).where(GiftSubscription.buyer_id == buyer.id, GiftSubscription.creation_key == key)
    )


def _paying_account(session: Session, gift: GiftSubscription, buyer: User) -> Account:
    if gift.payment_method == "loops":
        return loops_account(session, buyer)
    return wallet_account(session, buyer, gift.currency)


def _short(session: Session, gift: GiftSubscription, account: Account) -> InsufficientFunds:
    """The refusal the buyer reads when the wallet or Loops fall short."""
    if gift.payment_method == "loops":
        return not_enough_loops(session, account, gift.amount)
    held = Money(session.scalar(sa.select(Account.balance).where(Account.id == account.id)), gift.currency)
    needed = Money(gift.amount, gift.currency)
    return InsufficientFunds(f"Your wallet holds {held.display()}; this gift needs {needed.display()}")


def _count_coupon(session: Session, vault: CodeVault, gift: GiftSubscription, buyer: User, channel: str, now) -> None:
    """Count the coupon's use now that the gift is paid for; the discount is what it gives today."""
    coupon = session.get(CampaignCode, gift.coupon_code_id)
    used = redeem_coupon(
        session, vault, display_code(vault, coupon.code), order_total=Money(gift.price, gift.currency),
        merchant=None, channel=channel, email=buyer.email, reference=f"gift:{gift.id}", user_id=buyer.id, now=now,
    )
    gift.discount = used.quote.discount.minor


def pay_gift(
    session: Session,
    vault: CodeVault,
    gift: GiftSubscription,
    *,
    actor: Actor,
    idempotency_key: str,
    channel: str = "web",
    now: datetime | None = None,
) -> GiftSubscription:
    """Charge the buyer for a created gift (wallet credit or Loops, after the coupon); it stays ``created``.

    The same key again returns the gift as paid. Raise NotFound if the actor is not the buyer,
    ValidationError if the gift is already paid or no longer open, InsufficientFunds if the
    wallet or Loops fall short, the coupon's refusal if it stopped applying, IdempotencyConflict.
    """
    now = now or utcnow()
    if actor.user_id != gift.buyer_id:
        raise NotFound(NOT_YOURS)
    request = fingerprint("gift_purchase", gift.id)
    earlier = replay(session, actor, idempotency_key, request)
    if earlier is not None and earlier.id == gift.payment_transaction_id:
        return gift
    buyer = session.get(User, gift.buyer_id)
    nested = savepoint(session)
    try:
        # Whoever marks it paid charges it; a second payment finds nothing to mark.
        marked = session.execute(
            sa.update(GiftSubscription)
            .where(GiftSubscription.id == gift.id, GiftSubscription.status == "created",
                   GiftSubscription.paid_at.is_(None))
            .values(paid_at=now)
            .returning(GiftSubscription.id),
            execution_options={"synchronize_session": False},
        ).scalar()
        session.refresh(gift)
        if marked is None:
            if gift.status == "cancelled":
                raise CardCancelled("This gift was cancelled")
            raise ValidationError("This gift is already paid" if gift.paid else f"This gift is {gift.status}")
        if gift.coupon_code_id is not None:
            _count_coupon(session, vault, gift, buyer, channel, now)
        if gift.amount:
            source = _paying_account(session, gift, buyer)
            try:
                transaction, _ = post_or_replay(
                    session, kind="gift_purchase", actor=actor, idempotency_key=idempotency_key,
                    request_hash=request, memo=f"Gift of {gift.plan.name}",
                    legs=[(source, -gift.amount), (system_account(session, "subscriptions", gift.currency), gift.amount)],
                )
            except InsufficientFunds:
                raise _short(session, gift, source) from None
            gift.payment_transaction_id = transaction.id
        session.flush()
        audit(session, actor, "gift.paid", f"gift:{gift.id}", amount=gift.amount, currency=gift.currency)
    except BaseException:
        nested.rollback()
        raise
    nested.commit()
    return gift


def purchase_gift(
    session: Session, vault: CodeVault, buyer: User, *, actor: Actor, idempotency_key: str, channel: str = "api",
    now: datetime | None = None, **choices,
) -> tuple[GiftSubscription, str]:
    """Create a gift and pay for it in one go (``POST /gifts/purchase``); it waits ``created`` to be sent.

    Takes the choices of ``create_gift`` and raises as it and ``pay_gift`` do.
    """
    gift, code = create_gift(session, vault, buyer, channel=channel, now=now, **choices)
    pay_gift(session, vault, gift, actor=actor, idempotency_key=idempotency_key, channel=channel, now=now)
    return gift, code
