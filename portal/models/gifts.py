"""Gift subscriptions: the plans on sale and the gifts customers buy of them (DESIGN §2).

A gift's code is stored like every code (``codes``: keyed hash and ciphertext). What the friend
gets on redeeming is an ``Entitlement`` named after the plan, the same row a feature unlock
grants, so a gift redeemed while the plan runs adds its days after the end, as an unlock does.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, created_at, intpk
from portal.models.cards import Code
from portal.models.users import User

GIFT_STATUSES = ("created", "sent", "redeemed", "cancelled", "expired")
PAYMENT_METHODS = ("wallet", "loops")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class SubscriptionPlan(Base):
    """A subscription on sale: one money price and one price in Loops for ``duration_days``."""

    __tablename__ = "subscription_plans"
    __table_args__ = (
        sa.CheckConstraint("duration_days > 0", name="duration_positive"),
        sa.CheckConstraint("price > 0 AND price_loops > 0", name="prices_positive"),
    )

    id: Mapped[intpk]
    # The entitlement it grants, e.g. "plus"; also how the API names the plan.
    identifier: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    # What a subscriber gets, in a sentence or two, shown to the buyer and to the friend.
    description: Mapped[str] = mapped_column(sa.String(500), default="", server_default="")
    duration_days: Mapped[int]
    currency: Mapped[str] = mapped_column(sa.String(4))
    price: Mapped[int]
    price_loops: Mapped[int]
    created_at: Mapped[created_at]


class GiftSubscription(Base):
    """A plan bought for a friend (or as an open gift), from unpaid to redeemed, cancelled or expired."""

    __tablename__ = "gift_subscriptions"
    __table_args__ = (
        sa.CheckConstraint(_one_of("status", GIFT_STATUSES), name="status_known"),
        sa.CheckConstraint(_one_of("payment_method", PAYMENT_METHODS), name="payment_method_known"),
        sa.CheckConstraint("price > 0 AND discount >= 0 AND discount <= price", name="discount_within_price"),
        # Only a paid gift is sent (and so redeemed or expired); an unpaid one may be cancelled.
        sa.CheckConstraint("status IN ('created', 'cancelled') OR paid_at IS NOT NULL", name="sent_only_when_paid"),
        sa.CheckConstraint("subscription_duration_days > 0", name="duration_positive"),
        sa.Index("ix_gift_subscriptions_status_created_at", "status", "created_at"),
        # The "Buy a gift" form's key: submitted twice, it makes one gift.
        sa.UniqueConstraint("buyer_id", "creation_key", name="uq_gift_subscriptions_buyer_id_creation_key"),
    )

    id: Mapped[intpk]
    buyer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("subscription_plans.id"))
    # None: an open gift, for whoever the buyer hands the code to.
    recipient_email: Mapped[str | None] = mapped_column(sa.String(254), index=True)
    message: Mapped[str] = mapped_column(sa.String(500), default="")
    code_id: Mapped[int] = mapped_column(sa.ForeignKey("codes.id"), unique=True)
    creation_key: Mapped[str | None] = mapped_column(sa.String(80))
    status: Mapped[str] = mapped_column(sa.String(12), default="created")
    payment_method: Mapped[str] = mapped_column(sa.String(8))
    # The price in the payment's currency (LOOP when paid with Loops) and the coupon's discount.
    currency: Mapped[str] = mapped_column(sa.String(4))
    price: Mapped[int]
    discount: Mapped[int] = mapped_column(default=0)
    coupon_code_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaign_codes.id"))
    coupon_campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaigns.id"))
    payment_transaction_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ledger_transactions.id"))
    refund_transaction_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ledger_transactions.id"))
    subscription_duration_days: Mapped[int]
    created_at: Mapped[created_at]
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    redeemed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When it was cancelled or expired.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    plan: Mapped[SubscriptionPlan] = relationship(lazy="joined")
    code: Mapped[Code] = relationship(lazy="joined")
    buyer: Mapped[User] = relationship(foreign_keys=[buyer_id])

    @property
    def amount(self) -> int:
        """What the buyer pays: the price less the coupon's discount."""
        return self.price - self.discount

    @property
    def paid(self) -> bool:
        return self.paid_at is not None

    def __repr__(self) -> str:
        return f"<GiftSubscription {self.id} {self.status}>"
