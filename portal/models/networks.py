"""Acceptance networks: named sets of merchants (a mall, a franchise) a card or campaign can be scoped to."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, created_at, intpk
from portal.models.merchants import Merchant

network_merchants = sa.Table(
    "network_merchants",
    Base.metadata,
    sa.Column("network_id", sa.ForeignKey("networks.id", ondelete="CASCADE"), primary_key=True),
    # The scope check asks "is this merchant in the card's network?": by the primary key.
    sa.Column("merchant_id", sa.ForeignKey("merchants.id"), primary_key=True, index=True),
)


class Network(Base):
    """A named set of merchants; a card scoped to it is taken by its members only."""

    __tablename__ = "networks"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    created_at: Mapped[created_at]

    # Read when asked (a card's scope check, the admin's pages), not with every card that names the network.
    merchants: Mapped[list[Merchant]] = relationship(secondary=network_merchants, order_by=Merchant.name)

    def __repr__(self) -> str:
        return f"<Network {self.id} {self.name!r}>"
