"""People who sign in, and the API tokens they hold."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, created_at, intpk
from portal.models.merchants import Merchant

ROLES = ("customer", "merchant", "admin")


class User(UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("role IN ('customer', 'merchant', 'admin')", name="role_known"),
        # Merchant staff belong to exactly one merchant; nobody else belongs to any.
        sa.CheckConstraint(
            "(role = 'merchant') = (merchant_id IS NOT NULL)", name="staff_have_a_merchant"
        ),
        sa.CheckConstraint("lifetime_loops >= 0", name="lifetime_loops_not_negative"),
    )

    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(16), default="customer")
    merchant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    # Loops earned over the account's life; sets the tier (DESIGN §2, Loops).
    lifetime_loops: Mapped[int] = mapped_column(default=0)
    receipts_by_email: Mapped[bool] = mapped_column(default=True)
    # Part of every session cookie; bumping it ends all the user's sessions (sign-out, password
    # change, role change, disabling, "sign out everywhere").
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[created_at]
    last_signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by an admin: no sign-in, no session, no API token works until enabled again.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    merchant: Mapped[Merchant | None] = relationship(lazy="joined")

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    @property
    def is_customer(self) -> bool:
        return self.role == "customer"

    @property
    def is_staff(self) -> bool:
        return self.role == "merchant"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The first characters, so the owner can tell tokens apart in settings.
    prefix: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[created_at]
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None: works until revoked.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Requests per window for this token; None: the app's API_RATE_LIMIT.
    rate_limit: Mapped[int | None] = mapped_column()

    user: Mapped[User] = relationship(lazy="joined")
