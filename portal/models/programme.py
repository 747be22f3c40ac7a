"""Programme-wide settings an admin sets once: per kind of code its defaults, channels and roles,
and the currencies the programme allows (portal/programme.py reads and checks them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, created_at


class ProgrammeKind(Base):
    """One kind of code's programme rules; no row: the defaults in portal/programme.py."""

    __tablename__ = "programme_kinds"
    __table_args__ = (
        sa.CheckConstraint("default_valid_days IS NULL OR default_valid_days > 0", name="valid_days_positive"),
        sa.CheckConstraint("default_max_uses IS NULL OR default_max_uses > 0", name="max_uses_positive"),
    )

    kind: Mapped[str] = mapped_column(sa.String(12), primary_key=True)
    # A new campaign's expiry in days from issue and its total uses (None: no default).
    default_valid_days: Mapped[int | None]
    default_max_uses: Mapped[int | None]
    # Where and by whom codes of this kind may be redeemed (portal.programme.CHANNELS, user roles).
    channels: Mapped[list] = mapped_column(sa.JSON)
    roles: Mapped[list] = mapped_column(sa.JSON)
    updated_at: Mapped[created_at]


class ProgrammeCurrency(Base):
    """A currency the programme allows campaigns and cards in; no rows: every currency."""

    __tablename__ = "programme_currencies"

    currency: Mapped[str] = mapped_column(sa.String(4), primary_key=True)
    created_at: Mapped[created_at]
