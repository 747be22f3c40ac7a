"""API tokens: created once, stored as SHA-256, looked up per request."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import g, request
from sqlalchemy.orm import Session

from portal.errors import NotFound, ValidationError
from portal.extensions import db
from portal.ledger import Actor, audit
from portal.models import ApiToken, User, utcnow

PREFIX = "glt_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_token_name(name: str | None) -> str:
    """The rule for a token's name: 1 to 80 characters. Raise ValidationError otherwise."""
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ValidationError("Give the token a name of 1 to 80 characters", field="name")
    return name


def create_token(session: Session, user: User, name: str, *, rate_limit: int | None = None) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return the row and the token, which is never shown again.

    ``rate_limit`` is the token's own number of requests a minute (None: the app's default).
    Raise ValidationError for a bad name or a limit that is not a positive whole number.
    """
    name = check_token_name(name)
    if rate_limit is not None and (type(rate_limit) is not int or rate_limit < 1):
        raise ValidationError("A token's rate limit is a whole number of requests, at least 1", field="rate_limit")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user=user, name=name, token_hash=_digest(token), prefix=token[:10], rate_limit=rate_limit)
    session.add(row)
    session.flush()
    audit(session, Actor(user_id=user.id), "token.created", f"token:{row.id}", name=name)
    return row, token


def live_tokens(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens that still work, newest first."""
    return list(
        session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id.desc())
        )
    )


def own_token(session: Session, user: User, token_id: int) -> ApiToken:
    """One of the user's live tokens. Raise NotFound for anyone else's, or one already revoked."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        raise NotFound("You have no such token (it may be revoked already)")
    return row


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's tokens: from now on it is refused. Raise NotFound as ``own_token``."""
    row = own_token(session, user, token_id)
    row.revoked_at = utcnow()
    session.flush()
    audit(session, Actor(user_id=user.id), "token.revoked", f"token:{row.id}", name=row.name)
    return row


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
