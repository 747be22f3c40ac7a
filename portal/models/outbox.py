"""The outbox: e-mail to send, written in the same transaction as the change that causes it (DESIGN §4)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UTCDateTime, created_at, intpk

OUTBOX_STATUSES = ("pending", "sending", "sent", "failed")
WAITING = sa.text("status IN ('pending', 'sending')")


class OutboxMessage(Base):
    """One e-mail, from queued to sent (or failed for good); its key makes it unique."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status_known"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        # The relay looks for what waits; admins look for what failed.
        sa.Index("ix_outbox_status_created_at", "status", "created_at"),
        # A sender claims the oldest rows not yet sent: read off the front of this index, which
        # holds only those, however many millions were sent before.
        sa.Index("ix_outbox_waiting", "id", postgresql_where=WAITING, sqlite_where=WAITING),
    )

    id: Mapped[intpk]
    # One message per key, e.g. "card_received:42" or "expiry_reminder:42:2027-03-01".
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    # Names the templates: templates/email/<kind>.txt and .html.
    kind: Mapped[str] = mapped_column(sa.String(60))
    recipient: Mapped[str] = mapped_column(sa.String(254))
    # Ids and plain values only; a code the message must carry in full goes in code_ciphertext.
    context: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    card_id: Mapped[int | None] = mapped_column(sa.ForeignKey("gift_cards.id"), index=True)
    # A card or claim code encrypted with the code vault, decrypted only to render the message.
    code_ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[created_at]
    # When a sender last took the message; a claim older than the stale limit may be taken again.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # After a failed attempt: the message waits, pending, until then before its next one (backoff).
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} {self.status}>"
