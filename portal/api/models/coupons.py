"""Coupons: what a till asks about an order, and a coupon's rules as admins set them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal.api.models import (
    Amount,
    Answer,
    Body,
    Currency,
    Email,
    Id,
    MoneyText,
    Reference,
    Timestamp,
    examples,
    text,
)

DiscountType = Literal["percent", "fixed"]
Channel = Literal["web", "api"]
Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
Clock = Field(None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM on the merchant's clock")
CouponCode = text(100, "The coupon's code", min_length=1)


class CouponOrder(Body):
    model_config = examples({"code": "SAVE15", "order_total": "40.00", "customer_email": "cara@example.com"})

    code: CouponCode
    order_total: Amount
    customer_email: Email | None = None


class CouponOrderRedeem(CouponOrder):
    model_config = examples({"code": "SAVE15", "order_total": "40.00", "reference": "order-1042"})

    reference: Reference | None = None


class CouponRules(Body):
    """Read by the campaign rules of their names (``portal.campaigns.read_spec``), as the admin pages are"""

    model_config = examples({"code": "SAVE15", "discount_type": "percent", "discount_value": "15", "max_uses": 100,
                             "uses_per_user": 1, "expires_at": "2027-01-31", "channels": ["web", "api"]})

    code: CouponCode
    name: text(200) | None = None
    discount_type: DiscountType
    discount_value: Amount
    currency: str | None = Field(None, max_length=8, description="Needed for fixed discounts and min_order")
    max_uses: int = Field(ge=1)
    uses_per_user: int | None = Field(None, ge=1)
    expires_at: str | None = Field(None, max_length=40, description="A date or date-time in the future")
    min_order: Amount | None = None
    merchants: list[text(40)] | None = Field(None, max_length=100, description="Merchant slugs; none: every merchant")
    allowed_domains: list[text(254)] | None = Field(None, max_length=100)
    channels: list[Channel] | None = Field(
        None, max_length=2, description="none: web and api (a new coupon: the programme's channels for coupons)"
    )
    weekdays: list[Weekday] | None = Field(None, max_length=7, description="Days it works; none: every day")
    hours_from: str | None = Clock
    hours_until: str | None = Field(None, pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$",
                                    description="HH:MM; before hours_from: into the next day")
    first_order_only: bool = False
    max_discount: Amount | None = Field(None, description="The most one use takes off")
    max_discount_per_customer: Amount | None = Field(None, description="The most one customer gets in all")


class CouponDiscount(Answer):
    id: Id
    discount_type: DiscountType
    discount_value: str


class CouponQuote(Answer):
    """What a coupon takes off an order"""

    discount: MoneyText
    total_after: MoneyText
    currency: Currency
    coupon: CouponDiscount


class CouponUse(Answer):
    id: Id
    reference: str | None
    created_at: Timestamp


class CouponRedemption(CouponQuote):
    """The discount and the use counted"""

    use: CouponUse


class Coupon(Answer):
    """A coupon as admins see it"""

    id: Id
    name: str
    code: str | None
    discount_type: DiscountType
    discount_value: str = Field(pattern=r"^[0-9]+(\.[0-9]+)?$", description="Percent or amount")
    currency: Currency | None
    max_uses: int | None
    uses: int
    uses_per_user: int | None
    expires_at: Timestamp | None
    min_order: MoneyText | None
    merchants: list[str]
    allowed_domains: list[str]
    channels: list[Channel]
    weekdays: list[Weekday]
    hours_from: str | None
    hours_until: str | None
    first_order_only: bool
    max_discount: MoneyText | None
    max_discount_per_customer: MoneyText | None
    created_at: Timestamp
