"""Who may call which endpoint: declared once per blueprint, overridable per view.

Every blueprint calls ``protect(bp, roles)``; a view may narrow or open that with
``@roles(...)`` or ``@public``. The URL-map test reads the same declarations, so a new
route is checked without being listed anywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, current_app, request
from flask_login import current_user

from portal.web.render import to_signin

EVERYONE = None  # marker: no sign-in needed


def roles(*names: str) -> Callable:
    """Let only these roles call the view."""

    def mark(view):
        view.allowed_roles = frozenset(names)
        return view

    return mark


def public(view):
    """Let anyone call the view, signed in or not."""
    view.allowed_roles = EVERYONE
    return view


def allowed_roles(endpoint: str) -> frozenset[str] | None:
    """The roles an endpoint admits; None when it is open to everyone."""
    view = current_app.view_functions[endpoint]
    if hasattr(view, "allowed_roles"):
        return view.allowed_roles
    # A nested blueprint (the webhook pages in the till and the console) answers to its parents.
    name = endpoint.rpartition(".")[0]
    while name:
        blueprint = current_app.blueprints.get(name)
        if hasattr(blueprint, "allowed_roles"):
            return blueprint.allowed_roles
        name = name.rpartition(".")[0]
    return EVERYONE


def _session_user():
    return current_user if current_user.is_authenticated else None


def protect(
    bp: Blueprint,
    names: tuple[str, ...] | None,
    *,
    identify: Callable = _session_user,
    unauthenticated: Callable = to_signin,
    forbidden: Callable | None = None,
) -> None:
    """Check every request to ``bp`` against the roles its view admits.

    ``identify`` names the caller (the session's user, or the API token's), and the two
    callbacks answer a caller who is unknown or not allowed.
    """
    bp.allowed_roles = frozenset(names) if names is not None else EVERYONE

    @bp.before_request
    def _check_role():
        if request.endpoint is None or request.endpoint not in current_app.view_functions:
            return None
        wanted = allowed_roles(request.endpoint)
        if wanted is EVERYONE:
            return None
        user = identify()
        if user is None:
            return unauthenticated()
        if user.role not in wanted:
            if forbidden is not None:
                return forbidden()
            abort(403)
        return None
