"""Gift cards and the stored form of codes (hash for look-up, ciphertext for reveal)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, created_at, intpk
from portal.models.ledger import Account
from portal.models.merchants import Merchant
from portal.models.networks import Network
from portal.models.users import User

CARD_STATUSES = ("active", "frozen", "expired", "cancelled")
CARD_KINDS = ("promotional", "purchased")


class Code(Base):
    """A code as stored: no column holds it in clear (DESIGN §2, Codes)."""

    __tablename__ = "codes"

    id: Mapped[intpk]
    # HMAC-SHA256 of the canonical code under PORTAL_CODE_KEY.
    lookup_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # AES-GCM nonce and ciphertext, for the owner's reveal.
    ciphertext: Mapped[bytes] = mapped_column(sa.LargeBinary)
    masked: Mapped[str] = mapped_column(sa.String(40))
    created_at: Mapped[created_at]


class GiftCard(Base):
    __tablename__ = "gift_cards"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('active', 'frozen', 'expired', 'cancelled')", name="status_known"
        ),
        sa.CheckConstraint("kind IN ('promotional', 'purchased')", name="kind_known"),
        # The sweeps' and reminders' way in: only open cards, in the order they fall due, so an
        # expiry batch reads its cards off the front rather than past every card already expired.
        sa.Index(
            "ix_gift_cards_open_expiry", "expires_at", "id",
            postgresql_where=sa.text("status IN ('active', 'frozen')"),
            sqlite_where=sa.text("status IN ('active', 'frozen')"),
        ),
    )

    id: Mapped[intpk]
    code_id: Mapped[int] = mapped_column(sa.ForeignKey("codes.id"), unique=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), unique=True)
    # None for a bearer card (printed, e-mailed or sold at a counter).
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    currency: Mapped[str] = mapped_column(sa.String(4))
    # None: valid at every merchant; otherwise only at this one.
    merchant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    # None: no network; otherwise only at that network's merchants (and still only at merchant_id, if set).
    network_id: Mapped[int | None] = mapped_column(sa.ForeignKey("networks.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(12), default="active")
    kind: Mapped[str] = mapped_column(sa.String(12), default="purchased")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[created_at]

    code: Mapped[Code] = relationship(lazy="joined")
    account: Mapped[Account] = relationship(lazy="joined")
    owner: Mapped[User | None] = relationship()
    merchant: Mapped[Merchant | None] = relationship()
    network: Mapped[Network | None] = relationship()

    @property
    def only_at(self) -> str | None:
        """Where the card works, in words, when not everywhere: "The Book Nook", "merchants of the
        Riverside Mall network"."""
        if self.merchant is not None:
            return self.merchant.name
        return f"merchants of the {self.network.name} network" if self.network is not None else None
