"""Merchants: the stores that take gift cards."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, created_at, intpk


class Merchant(Base):
    __tablename__ = "merchants"
    __table_args__ = (
        sa.CheckConstraint("loops_per_unit >= 0", name="loops_per_unit_not_negative"),
        sa.CheckConstraint("conversion_rate IS NULL OR conversion_rate > 0", name="conversion_rate_positive"),
    )

    id: Mapped[intpk]
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    currency: Mapped[str] = mapped_column(sa.String(4), default="USD")
    # Loops awarded per 1.00 spent at this merchant.
    loops_per_unit: Mapped[int] = mapped_column(default=10)
    # Loops per 1.00 when a customer converts Loops into a card scoped to this merchant;
    # None means the customer's tier rate applies.
    conversion_rate: Mapped[int | None]
    # Whether cards sold at this counter work network-wide or only here.
    sells_network_cards: Mapped[bool] = mapped_column(default=False)
    # Minor units above which a counter sale or top-up asks to be confirmed; None: COUNTER_CONFIRM_ABOVE.
    confirm_sales_above: Mapped[int | None] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"))
    # An IANA time zone (Europe/Dublin): the clock a coupon's weekdays and hours are read on.
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC", server_default="UTC")
    created_at: Mapped[created_at]

    def __repr__(self) -> str:
        return f"<Merchant {self.slug}>"
