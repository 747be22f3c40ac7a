"""The API's caller: the token of ``Authorization: Bearer …``, looked up once per request."""

from __future__ import annotations

from datetime import timedelta

from flask import g, request

from portal.extensions import db
from portal.models import User, utcnow
from portal.tokens import find_token


def authenticate_request() -> None:
    """Name the caller from ``Authorization: Bearer …`` (the session cookie is ignored here), once a request."""
    if "api_token" in g:
        return
    g.api_token = None
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return
    row = find_token(db.session, value.strip())
    if row is not None:
        g.api_token = row
        now = utcnow()
        # A write per minute at most, not one per request.
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
            row.last_used_at = now
            db.session.commit()


def token_user() -> User | None:
    """The user behind the request's token, if any."""
    token = g.get("api_token")
    return token.user if token is not None else None
