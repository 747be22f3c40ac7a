"""Gift subscriptions: buying, sending, checking and redeeming them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal.api.models import (
    Answer,
    Body,
    Currency,
    Email,
    Id,
    MoneyText,
    Timestamp,
    absent,
    examples,
    text,
)
from portal.api.models.me import Entitlement
from portal.api.models.paging import NextCursor
from portal.api.models.problems import ProblemCode

GiftCode = text(60, "A gift code in any spelling: GIFT-XXXX-XXXX-XXXX-XXXX", min_length=1)


class PurchaseGift(Body):
    model_config = examples({"subscription_identifier": "plus", "payment_method": "wallet",
                             "recipient_email": "friend@example.com", "message": "Happy birthday!"})

    subscription_identifier: text(100, min_length=1) = Field(examples=["plus"])
    recipient_email: Email | None = Field(None, description="Leave out for an open gift")
    payment_method: Literal["wallet", "loops"]
    message: text(500) | None = None
    coupon: text(100) | None = Field(None, description="A coupon code open to the api channel")
    gift_duration_days: int | None = Field(None, ge=1, le=3660, description="How long the gift can be redeemed")
    subscription_duration_days: int | None = Field(
        None, ge=1, description="A whole number of the plan's periods",
    )


class GiftCodeBody(Body):
    model_config = examples({"gift_code": "GIFT-7K2M-Q9PD-4X1T-C8VN"})

    gift_code: GiftCode


class Gift(Answer):
    """A gift subscription, as its buyer or its recipient sees it"""

    id: Id
    code_masked: str = Field(description="The code with all but its last characters hidden")
    subscription_identifier: str = Field(examples=["plus"])
    plan_name: str
    subscription_duration_days: int = Field(ge=1)
    status: Literal["created", "sent", "redeemed", "cancelled", "expired"] = Field(
        description="created (paid or not yet) → sent → redeemed, cancelled or expired",
    )
    recipient_email: str | None = Field(description="The named friend; null for an open gift")
    message: str | None
    from_: str = Field(alias="from", description="The buyer's name or address")
    created_at: Timestamp
    sent_at: Timestamp | None
    expires_at: Timestamp = Field(description="Redeemable until then; a sent gift past it is refunded")
    redeemed_at: Timestamp | None
    gift_code: str = absent("Buyer only: GIFT-XXXX-XXXX-XXXX-XXXX, in full")
    payment_method: Literal["wallet", "loops"] = absent("Buyer only")
    currency: Currency = absent("Buyer only: LOOP when paid with Loops")
    price: MoneyText = absent("Buyer only: the list price")
    discount: MoneyText = absent("Buyer only: what the coupon took off")
    amount_paid: MoneyText = absent("Buyer only: price less discount")
    paid: bool = absent("Buyer only")
    paid_at: Timestamp | None = absent("Buyer only")


class BoughtGift(Gift):
    """A gift as its buyer sees it, with the full code"""

    gift_code: str = Field(description="GIFT-XXXX-XXXX-XXXX-XXXX: shown in full to the buyer only")
    payment_method: Literal["wallet", "loops"]
    currency: Currency
    price: MoneyText
    discount: MoneyText
    amount_paid: MoneyText
    paid: bool
    paid_at: Timestamp | None


class GiftList(Answer):
    gifts: list[Gift]
    next_cursor: NextCursor


class GiftCheck(Answer):
    """Whether the caller could redeem a gift code now"""

    gift_code: str = Field(description="The code, masked")
    subscription_identifier: str
    can_redeem: bool
    error: ProblemCode | None = Field(description="Why not, as a problem code; null when it can be redeemed")
    message: str = Field(description="Why not, or what redeeming gives, in words")


class GiftRedemption(Answer):
    """The gift and the subscription it started"""

    gift: Gift
    subscription: Entitlement
