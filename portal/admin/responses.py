"""How admin views answer: after a change, on a refusal, and who is acting."""

from __future__ import annotations

from flask_login import current_user

from portal.errors import DomainError, ValidationError
from portal.extensions import db
from portal.ledger import Actor
from portal.web.forms import show_domain_error
from portal.web.render import done  # noqa: F401 - views import it from here


def actor() -> Actor:
    """The signed-in admin, as the ledger and the audit log name them."""
    return Actor(user_id=current_user.id)


def refuse(form, error: DomainError, field_names: dict[str, str] | None = None) -> int:
    """Roll back, put the reason by its field (or above the form), and give the status to answer with."""
    db.session.rollback()
    show_domain_error(form, error, field_names)
    return 422


def require_tick(form, consequence: str) -> None:
    """An action that cannot be taken back goes through only with its "Yes, …" box ticked (no
    script's confirm(): the tick works without JavaScript). Raise ValidationError by the box."""
    if not form.confirm.data:
        raise ValidationError(f"Tick the box to confirm: {consequence}", field="confirm")
