"""Who is acting in admin views, and the tick an action that cannot be taken back needs."""

from __future__ import annotations

from flask_login import current_user

from portal.errors import ValidationError
from portal.ledger import Actor


def actor() -> Actor:
    """The signed-in admin, as the ledger and the audit log name them."""
    return Actor(user_id=current_user.id)


def require_tick(form, consequence: str) -> None:
    """An action that cannot be taken back goes through only with its "Yes, …" box ticked (no
    script's confirm(): the tick works without JavaScript). Raise ValidationError by the box."""
    if not form.confirm.data:
        raise ValidationError(f"Tick the box to confirm: {consequence}", field="confirm")
