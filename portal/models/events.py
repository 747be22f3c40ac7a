"""Events and webhooks (issue 11): what happened, who wants to hear it, and each delivery."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, created_at, intpk

ENDPOINT_STATUSES = ("enabled", "disabled")
DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed")


class Event(Base):
    """One thing that happened, written in the transaction that made it happen; never changed
    afterwards except for ``position``, which the sequencer gives it once it is committed."""

    __tablename__ = "events"
    __table_args__ = (
        # A merchant pulls its own events in order.
        sa.Index("ix_events_merchant_id_position", "merchant_id", "position"),
    )

    id: Mapped[intpk]
    type: Mapped[str] = mapped_column(sa.String(60))
    occurred_at: Mapped[created_at]
    # Whose event it is (routing and scoping); None: only admins see it.
    merchant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("merchants.id"))
    transaction_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ledger_transactions.id"), index=True)
    # The event's ``data``: ids, amounts as strings, masked codes; nothing personal beyond ids.
    payload: Mapped[dict] = mapped_column(sa.JSON)
    # Commit order, as the pull API hands events out; None until the sequencer has seen it
    # committed (ids come from a sequence in insert order, which is not commit order).
    position: Mapped[int | None] = mapped_column(unique=True)

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.type}>"


class WebhookEndpoint(Base):
    """A URL that is sent the events of one merchant (or every event, for an admin's)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (sa.CheckConstraint("status IN ('enabled', 'disabled')", name="status_known"),)

    id: Mapped[intpk]
    # None: an admin's endpoint, sent every event.
    merchant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    # Who is told when the endpoint is disabled.
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    url: Mapped[str] = mapped_column(sa.String(2000))
    event_types: Mapped[list] = mapped_column(sa.JSON)
    # The signing secret, encrypted with the code vault; shown in full once, when made.
    secret_ciphertext: Mapped[bytes] = mapped_column(sa.LargeBinary)
    status: Mapped[str] = mapped_column(sa.String(12), default="enabled")
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[created_at]

    def __repr__(self) -> str:
        return f"<WebhookEndpoint {self.id} {self.status}>"


class WebhookDelivery(Base):
    """One event for one endpoint, from queued to delivered or given up; the endpoint's log."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'sending', 'delivered', 'failed')", name="status_known"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        sa.Index("ix_webhook_deliveries_status_created_at", "status", "created_at"),
        sa.Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
    )

    id: Mapped[intpk]
    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_endpoints.id"))
    # None: a test event ("webhook.test") its owner asked for.
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("events.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    response_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[created_at]
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[Event | None] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<WebhookDelivery {self.id} {self.status}>"
