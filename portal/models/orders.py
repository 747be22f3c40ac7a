"""Orders bought in the shop and paid through a payment provider (issue 25).

An order is created ``pending``; only the provider's confirmed webhook turns it ``paid``, and the
cards of its lines are issued in that same database transaction. ``reference`` is the order's
public name (unguessable: a guest follows their order by it); card codes never appear here.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, created_at, intpk

ORDER_STATES = ("pending", "paid", "fulfilled", "expired", "refunded")
CARD_DESIGNS = ("classic", "birthday", "thanks", "celebrate")
# What a line buys: a new card, value onto one of the buyer's cards, or wallet credit.
LINE_KINDS = ("card", "card_topup", "wallet_topup")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Order(Base):
    """What a buyer pays for in one payment: one or more lines, in one currency."""

    __tablename__ = "orders"
    __table_args__ = (
        sa.CheckConstraint(_one_of("state", ORDER_STATES), name="state_known"),
        sa.CheckConstraint("total > 0", name="total_positive"),
        sa.CheckConstraint("state IN ('pending', 'expired') OR paid_at IS NOT NULL", name="paid_when_past_pending"),
        # One order per provider payment: a webhook names exactly one order.
        sa.UniqueConstraint("provider", "payment_reference", name="uq_orders_provider_payment_reference"),
        sa.Index("ix_orders_state_expires_at", "state", "expires_at"),
    )

    id: Mapped[intpk]
    reference: Mapped[str] = mapped_column(sa.String(40), unique=True)
    buyer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    buyer_email: Mapped[str] = mapped_column(sa.String(254))
    currency: Mapped[str] = mapped_column(sa.String(4))
    total: Mapped[int]
    state: Mapped[str] = mapped_column(sa.String(12), default="pending")
    provider: Mapped[str] = mapped_column(sa.String(16))
    payment_reference: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[created_at]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Above the programme's approval amount an admin approves a paid order before its cards are issued.
    approval_required: Mapped[bool] = mapped_column(default=False)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Many bearer cards for the buyer to hand out (a company's staff): their codes go to the buyer
    # in one e-mail with a CSV, and each can be e-mailed to its own recipient from the order page.
    bulk: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", lazy="selectin", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Order {self.id} {self.state} {self.total} {self.currency}>"


class OrderLine(Base):
    """One thing an order buys: a card (its value, its face, and who it is for: the buyer when no
    recipient), or a top-up of the buyer's card or wallet credit."""

    __tablename__ = "order_lines"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(_one_of("design", CARD_DESIGNS), name="design_known"),
        sa.CheckConstraint(_one_of("kind", LINE_KINDS), name="kind_known"),
        sa.CheckConstraint("(kind = 'card_topup') = (topup_card_id IS NOT NULL)", name="topup_names_its_card"),
    )

    id: Mapped[intpk]
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16), default="card", server_default="card")
    amount: Mapped[int]
    design: Mapped[str] = mapped_column(sa.String(16), default="classic")
    recipient_name: Mapped[str] = mapped_column(sa.String(120), default="")
    recipient_email: Mapped[str | None] = mapped_column(sa.String(254))
    message: Mapped[str] = mapped_column(sa.String(500), default="")
    deliver_on: Mapped[date | None] = mapped_column(sa.Date)
    card_id: Mapped[int | None] = mapped_column(sa.ForeignKey("gift_cards.id"), unique=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A top-up's card (the buyer's own); a new card's id is ``card_id``, set when it is issued.
    topup_card_id: Mapped[int | None] = mapped_column(sa.ForeignKey("gift_cards.id"), index=True)

    order: Mapped[Order] = relationship(back_populates="lines")


class ProgrammeLimits(Base):
    """What an admin allows in one currency (minor units); the shop and the ledger read it."""

    __tablename__ = "programme_limits"
    __table_args__ = (
        sa.CheckConstraint(
            "min_purchase > 0 AND max_purchase >= min_purchase AND max_card_balance >= max_purchase "
            "AND max_daily_per_customer >= min_purchase AND max_cards_per_order >= 1",
            name="limits_consistent",
        ),
    )

    currency: Mapped[str] = mapped_column(sa.String(4), primary_key=True)
    min_purchase: Mapped[int]
    max_purchase: Mapped[int]
    max_card_balance: Mapped[int]
    max_daily_per_customer: Mapped[int]
    max_cards_per_order: Mapped[int]
    approval_above: Mapped[int | None]
    updated_at: Mapped[created_at]


class DailyLoad(Base):
    """What one customer has had loaded in one currency on one day (UTC), from paid orders.

    The row is the limit's counter: a payment adds to it in one UPDATE whose WHERE holds the
    programme's daily maximum (portal/orders/daily_loads.py), so two payments at once cannot both
    pass it. ``customer`` is ``user:<id>`` for a signed-in buyer, ``email:<address>`` for a guest.
    """

    __tablename__ = "daily_loads"
    __table_args__ = (sa.CheckConstraint("loaded >= 0", name="loaded_not_negative"),)

    customer: Mapped[str] = mapped_column(sa.String(260), primary_key=True)
    currency: Mapped[str] = mapped_column(sa.String(4), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    loaded: Mapped[int]
