"""An amount reserved on a gift card for a sale not yet complete (issue 27: holds)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, created_at, intpk
from portal.models.cards import GiftCard
from portal.models.merchants import Merchant

HOLD_STATES = ("open", "captured", "released", "lapsed")
OPEN = sa.text("state = 'open'")


def holds_key_in_sql(card_id: sa.ColumnElement) -> sa.ColumnElement[str]:
    """The key of the holds account of the card ``card_id`` names, as SQL: "holds:" || id."""
    return sa.literal("holds:").concat(sa.cast(card_id, sa.String))


class Hold(Base):
    """Value moved from a card's account to its holds account ("holds:{card id}") until the sale
    is captured (all or part, to the merchant), released, or lapses; the card's balance is then
    what is available, and the holds account holds exactly the card's open holds."""

    __tablename__ = "holds"
    __table_args__ = (
        sa.CheckConstraint("state IN ('open', 'captured', 'released', 'lapsed')", name="state_known"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("captured IS NULL OR (captured > 0 AND captured <= amount)", name="captured_within"),
        # The sweep's way in: only open holds, in the order they lapse.
        sa.Index("ix_holds_open_expiry", "expires_at", "id", postgresql_where=OPEN, sqlite_where=OPEN),
    )

    id: Mapped[intpk]
    card_id: Mapped[int] = mapped_column(sa.ForeignKey("gift_cards.id"), index=True)
    # The merchant whose till placed it (None: an admin); only it (or an admin) may finish it.
    merchant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(sa.String(4))
    captured: Mapped[int | None]
    state: Mapped[str] = mapped_column(sa.String(10), default="open")
    reference: Mapped[str | None] = mapped_column(sa.String(100))
    placed_transaction_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_transactions.id"), unique=True)
    finished_transaction_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ledger_transactions.id"), unique=True)
    created_at: Mapped[created_at]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    card: Mapped[GiftCard] = relationship()
    merchant: Mapped[Merchant | None] = relationship()
