"""How admin views answer: after a change, on a refusal, and who is acting."""

from __future__ import annotations

from flask import flash, make_response, redirect
from flask_login import current_user

from portal.errors import DomainError
from portal.extensions import db
from portal.ledger import Actor
from portal.web.forms import show_domain_error
from portal.web.render import is_htmx


def actor() -> Actor:
    """The signed-in admin, as the ledger and the audit log name them."""
    return Actor(user_id=current_user.id)


def done(url: str, message: str | None = None):
    """After a change: go to ``url`` (a full navigation for htmx too), with a message there."""
    if message:
        flash(message, "success")
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, 303)


def refuse(form, error: DomainError, field_names: dict[str, str] | None = None) -> int:
    """Roll back, put the reason by its field (or above the form), and give the status to answer with."""
    db.session.rollback()
    show_domain_error(form, error, field_names)
    return 422
