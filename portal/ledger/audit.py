"""The audit trail beside the money: who did what to which thing, and why."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.errors import ValidationError
from portal.ledger.actors import Actor
from portal.models import AuditEvent


def required_reason(reason: str | None) -> str:
    """The trimmed reason an admin gave. Raise ValidationError if blank or longer than 500 characters."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Please give a reason", field="reason")
    if len(reason) > 500:
        raise ValidationError("Please keep the reason under 500 characters", field="reason")
    return reason


def audit(session: Session, actor: Actor, action: str, target: str, reason: str = "", **detail) -> AuditEvent:
    """Record one audit event in the caller's transaction."""
    event = AuditEvent(actor_id=actor.user_id, action=action, target=target, reason=reason, detail=detail)
    session.add(event)
    return event
