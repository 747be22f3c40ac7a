"""API tokens: created once, stored as SHA-256, looked up per request. No HTTP here: the API
reads the request (``portal.api.tokens``), the settings pages and the CLI make and revoke them."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, contains_eager, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from portal.errors import NotFound, ValidationError
from portal.kept import Kept
from portal.ledger import Actor, audit, required_reason
from portal.models import ApiToken, User, utcnow

PREFIX = "glt_"
MAX_EXPIRY_DAYS = 3650


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_token_name(name: str | None) -> str:
    """The rule for a token's name: 1 to 80 characters. Raise ValidationError otherwise."""
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ValidationError("Give the token a name of 1 to 80 characters", field="name")
    return name


def check_expiry_days(days: int | str | None) -> int | None:
    """The rule for a token's lifetime, typed or given: empty for "until revoked", else 1 to 3650
    whole days. Return the days (None for empty); raise ValidationError otherwise."""
    text = "" if days is None else str(days).strip()
    if not text:
        return None
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_EXPIRY_DAYS:
        raise ValidationError(
            f"Enter a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or leave it empty for no expiry",
            field="expires_in_days",
        )
    return int(text)


def create_token(
    session: Session, user: User, name: str, *, rate_limit: int | None = None, expires_in_days: int | str | None = None
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return the row and the token, which is never shown again.

    ``rate_limit`` is the token's own number of requests a minute (None: the app's default);
    ``expires_in_days`` ends it by itself (None: it works until revoked). Raise ValidationError
    for a bad name, a limit that is not a positive whole number, or a bad number of days.
    """
    name = check_token_name(name)
    if rate_limit is not None and (type(rate_limit) is not int or rate_limit < 1):
        raise ValidationError("A token's rate limit is a whole number of requests, at least 1", field="rate_limit")
    expires_in_days = check_expiry_days(expires_in_days)
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user=user, name=name, token_hash=_digest(token), prefix=token[:10], rate_limit=rate_limit, expires_at=expires_at
    )
    session.add(row)
    session.flush()
    audit(session, Actor(user_id=user.id), "token.created", f"token:{row.id}", name=name,
          expires_at=expires_at.isoformat() if expires_at else None)
    return row, token


def live_tokens(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens not revoked (expired ones too, so their owner sees why a program stopped), newest first."""
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
    forget_cached_tokens()
    audit(session, Actor(user_id=user.id), "token.revoked", f"token:{row.id}", name=row.name)
    return row


def revoke_all_tokens(session: Session, user: User, *, actor: Actor, reason: str) -> int:
    """Revoke every token of ``user`` (an admin's action, with a reason); return how many.
    Raise ValidationError for a blank reason."""
    reason = required_reason(reason)
    revoked = session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    audit(session, actor, "token.revoked_all", f"user:{user.id}", reason, count=revoked)
    forget_cached_tokens()
    return revoked


# A token's row, its user and the user's merchant are kept in each process for this long after
# a look-up: the API's hot path then asks the database nothing to know its caller. A revoked or
# expired token, or a disabled account, is refused at once by the process that changed it and by
# every other process within these seconds (README, "API tokens").
CACHE_SECONDS = 5.0
_kept: Kept[ApiToken] = Kept(CACHE_SECONDS, entries=1_000)


def forget_cached_tokens() -> None:
    """Drop every token this process keeps (after a revocation or a disabled account)."""
    _kept.clear()


def _detached_copy(row: ApiToken) -> ApiToken:
    """The row, its user and the user's merchant as detached copies that no session owns."""

    def copy(instance):
        if instance is None:
            return None
        cls = type(instance)
        made = cls(**{attr.key: getattr(instance, attr.key) for attr in sa.inspect(cls).column_attrs})
        return made

    token, user, merchant = copy(row), copy(row.user), copy(row.user.merchant)
    set_committed_value(user, "merchant", merchant)
    set_committed_value(token, "user", user)
    for instance in (merchant, user, token):
        if instance is not None:
            make_transient_to_detached(instance)
    return token


def _still_works(row: ApiToken, now) -> bool:
    return (
        row.revoked_at is None and (row.expires_at is None or row.expires_at > now) and row.user.disabled_at is None
    )


def find_token(session: Session, token: str) -> ApiToken | None:
    """The token row for a presented token that still works: not revoked, not expired, and its
    user not disabled. None otherwise.

    Kept in this process for ``CACHE_SECONDS``: the row handed out is a copy of the kept one in
    ``session`` (no query)."""
    if not token.startswith(PREFIX):
        return None
    now = utcnow()
    digest = _digest(token)
    cached = _kept.get(session, digest)
    if cached is not None and _still_works(cached, now):
        row = session.merge(cached, load=False)
        _note_use(cached, now)
        return row
    row = session.scalar(
        sa.select(ApiToken)
        .join(ApiToken.user)
        .options(contains_eager(ApiToken.user))
        .where(
            ApiToken.token_hash == digest,
            ApiToken.revoked_at.is_(None),
            sa.or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
            User.disabled_at.is_(None),
        )
    )
    if row is None:
        _kept.drop(session, digest)
        return None
    kept = _detached_copy(row)
    _note_use(kept, now)
    _kept.put(session, digest, kept)
    return row


def _note_use(kept: ApiToken, now) -> None:
    """The API stores a token's last use when the stored one is over a minute old; the kept copy
    takes the time it is about to store, so it is stored once a minute, not on every request
    until the copy is renewed."""
    if kept.last_used_at is None or now - kept.last_used_at > timedelta(minutes=1):
        set_committed_value(kept, "last_used_at", now)
