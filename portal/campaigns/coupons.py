"""Coupons at a merchant's checkout: what a code takes off an order, and counting its use.

``validate_coupon`` only answers (it uses nothing); ``redeem_coupon`` checks the same rules and
counts one use atomically. The till page and the API call these two and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from portal.campaigns import rules
from portal.campaigns.codes import find_campaign_code
from portal.campaigns.uses import count_use
from portal.cards.codes import CodeVault
from portal.emails import normalise_email
from portal.errors import ValidationError
from portal.events import kinds as events
from portal.models import Merchant, User, utcnow
from portal.models.campaigns import Campaign, CampaignCode, CampaignUse
from portal.money import Money

NOT_A_COUPON = "That code is not a coupon: customers redeem it in their wallet"


@dataclass
class CouponQuote:
    """What a coupon takes off an order."""

    campaign: Campaign
    code: CampaignCode
    order_total: Money
    discount: Money

    @property
    def total_after(self) -> Money:
        return self.order_total - self.discount


@dataclass
class CouponUse:
    """A counted use of a coupon, with the discount it gave."""

    quote: CouponQuote
    use: CampaignUse


def discount_for(campaign: Campaign, order_total: Money, *, had: int = 0) -> Money:
    """The discount on an order: a percentage (rounded half up to the minor unit) or a fixed amount,
    never more than the order, the coupon's maximum per use, or what is left of its maximum per
    customer once this customer ``had`` that much (minor units)."""
    if campaign.discount_type == "percent":
        minor = (order_total.minor * campaign.percent_bp + 5000) // 10000
    else:
        minor = campaign.value
    caps = [order_total.minor, campaign.max_discount]
    if campaign.max_discount_per_customer is not None:
        caps.append(campaign.max_discount_per_customer - had)
    return Money(min(minor, *(cap for cap in caps if cap is not None)), order_total.currency)


def customer_email(value: str | None) -> str | None:
    """The customer's address as given at the till, checked and lower-cased; None when not given."""
    if value is None or not value.strip():
        return None
    try:
        return normalise_email(value)
    except ValidationError as error:
        raise ValidationError(error.message, field="customer_email") from None


def _coupon(session: Session, vault: CodeVault, text: str) -> CampaignCode:
    code = find_campaign_code(session, vault, text)
    rules.refuse_deleted(code.campaign)
    if code.campaign.kind != "coupon":
        raise ValidationError(NOT_A_COUPON, field="code")
    return code


def validate_coupon(
    session: Session,
    vault: CodeVault,
    text: str,
    *,
    order_total: Money,
    merchant: Merchant | None,
    channel: str,
    email: str | None = None,
    user_id: int | None = None,
    now: datetime | None = None,
) -> CouponQuote:
    """The discount a coupon gives on this order, using nothing.

    Raise NotFound for an unknown code, ValidationError for a code that is not a coupon or a
    malformed e-mail address, and every refusal of ``rules.check_use``.
    """
    now = now or utcnow()
    email = customer_email(email)
    code = _coupon(session, vault, text)
    campaign = code.campaign
    rules.check_use(
        session, campaign, code, channel=channel, now=now, merchant=merchant, email=email, order_total=order_total,
        redeemer=session.get(User, user_id) if user_id is not None else None,
    )
    had = rules.customer_record(session, campaign, email)[1] if email else 0
    return CouponQuote(campaign, code, order_total, discount_for(campaign, order_total, had=had))


def redeem_coupon(
    session: Session,
    vault: CodeVault,
    text: str,
    *,
    order_total: Money,
    merchant: Merchant | None,
    channel: str,
    email: str | None = None,
    reference: str | None = None,
    user_id: int | None = None,
    now: datetime | None = None,
) -> CouponUse:
    """Apply a coupon to an order: the same checks as ``validate_coupon``, then one use counted.

    Raise as ``validate_coupon`` does, and UsageLimitReached or AlreadyRedeemed if another
    till took the last use in the meantime.
    """
    now = now or utcnow()
    quote = validate_coupon(
        session, vault, text, order_total=order_total, merchant=merchant, channel=channel, email=email,
        user_id=user_id, now=now,
    )
    use = count_use(
        session, quote.campaign, quote.code, channel=channel, email=customer_email(email), user_id=user_id,
        merchant_id=merchant.id if merchant else None, currency=order_total.currency,
        order_total=order_total.minor, discount=quote.discount.minor, reference=reference, now=now,
    )
    events.coupon_redeemed(session, use, quote.code)
    return CouponUse(quote, use)
