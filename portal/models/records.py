"""Records kept beside the money: idempotency, audit and security events."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UTCDateTime, created_at, intpk


class IdempotencyRecord(Base):
    """The first answer to a write, replayed for the same key (DESIGN §5)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (sa.UniqueConstraint("scope", "key", name="uq_idempotency_records_scope_key"),)

    id: Mapped[intpk]
    # Who and where: "token:3 POST /api/v1/cards/{code}/redeem".
    scope: Mapped[str] = mapped_column(sa.String(200))
    key: Mapped[str] = mapped_column(sa.String(200))
    # SHA-256 of the request, to tell a replay from another request under the same key.
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    response_status: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(sa.Text)
    # Or, for a redemption kept by giftloop_redeem itself, the values its answer is written from.
    answer: Mapped[dict | None] = mapped_column(sa.JSON)
    created_at: Mapped[created_at]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditEvent(Base):
    """Who did what to which thing, and why; admins filter these."""

    __tablename__ = "audit_events"

    id: Mapped[intpk]
    at: Mapped[created_at] = mapped_column(index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(sa.String(60), index=True)
    target: Mapped[str] = mapped_column(sa.String(80), default="")
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    detail: Mapped[dict] = mapped_column(sa.JSON, default=dict)


class SecurityEvent(Base):
    """A lock-out or other sign of attack, shown on the admin overview."""

    __tablename__ = "security_events"

    id: Mapped[intpk]
    at: Mapped[created_at] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    # What was limited: "ip:203.0.113.9", "user:7", "prefix:<keyed tag of a card code's start>", "email:…".
    subject: Mapped[str] = mapped_column(sa.String(300))
    detail: Mapped[str] = mapped_column(sa.String(500), default="")


class ThrottleCounter(Base):
    """A limit's count in its window, kept here only while Redis is down, so every app process
    shares it (DESIGN §7: guessing limits never become per process)."""

    __tablename__ = "throttle_counters"

    # The throttle and its subject: "giftloop:throttle:guess:user:7".
    key: Mapped[str] = mapped_column(sa.String(400), primary_key=True)
    count: Mapped[int]
    window_ends: Mapped[datetime] = mapped_column(UTCDateTime)
