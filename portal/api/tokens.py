"""API tokens: created once, stored as SHA-256, looked up per request."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import g, request
from sqlalchemy.orm import Session

from portal.errors import ValidationError
from portal.extensions import db
from portal.models import ApiToken, User, utcnow

PREFIX = "glt_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return the row and the token, which is never shown again."""
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ValidationError("Give the token a name of 1 to 80 characters", field="name")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user=user, name=name, token_hash=_digest(token), prefix=token[:10])
    session.add(row)
    session.flush()
    return row, token


def find_token(session: Session, token: str) -> ApiToken | None:
    """The live token row for a presented token, or None."""
    if not token.startswith(PREFIX):
        return None
    return session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    )


def authenticate_request() -> None:
    """Name the caller from ``Authorization: Bearer …`` (the session cookie is ignored here)."""
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
