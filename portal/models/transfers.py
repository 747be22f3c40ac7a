"""A gift card on its way from its owner to a friend (DESIGN §2, Gift cards: transfer)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, created_at, intpk
from portal.models.cards import GiftCard

TRANSFER_STATUSES = ("pending", "claimed", "cancelled", "lapsed")


class Transfer(Base):
    """A claim code (stored only as its keyed hash) that moves a card to whoever claims it."""

    __tablename__ = "transfers"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('pending', 'claimed', 'cancelled', 'lapsed')", name="status_known"
        ),
        # A card waits for at most one friend at a time.
        sa.Index(
            "uq_transfers_pending_card",
            "card_id",
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        ),
    )

    id: Mapped[intpk]
    card_id: Mapped[int] = mapped_column(sa.ForeignKey("gift_cards.id"), index=True)
    from_user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # Set when the owner sent it by e-mail; only that address may claim it.
    to_email: Mapped[str | None] = mapped_column(sa.String(254))
    # HMAC-SHA256 of the canonical claim code under PORTAL_CODE_KEY.
    claim_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    created_at: Mapped[created_at]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    claimed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # When it was claimed, cancelled or lapsed.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    card: Mapped[GiftCard] = relationship()
