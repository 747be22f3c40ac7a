"""Accounts of people: sign-up, credentials, roles. No HTTP here."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.auth.passwords import hash_password, verify_password
from portal.emails import normalise_email
from portal.errors import ValidationError
from portal.models import Merchant, User, utcnow
from portal.models.users import ROLES
from portal.tokens import forget_cached_tokens

MIN_PASSWORD = 10
MAX_PASSWORD = 200


def check_password_rule(password: str) -> None:
    """The one password rule, for sign-up, password change and the command line."""
    if len(password or "") < MIN_PASSWORD:
        raise ValidationError(
            f"Use at least {MIN_PASSWORD} characters for your password", field="password"
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationError(f"Use at most {MAX_PASSWORD} characters", field="password")


def create_user(
    session: Session,
    email: str,
    password: str,
    *,
    role: str = "customer",
    name: str = "",
    merchant: Merchant | None = None,
) -> User:
    """Create a user. Raise ValidationError if the address is taken or a rule is broken."""
    email = normalise_email(email)
    check_password_rule(password)
    return add_user(session, email, hash_password(password), role=role, name=name, merchant=merchant)


def add_user(
    session: Session,
    email: str,
    password_hash: str,
    *,
    role: str = "customer",
    name: str = "",
    merchant: Merchant | None = None,
) -> User:
    """Create a user whose password is hashed already (a confirmed sign-up carries only the hash).
    Raise ValidationError if the address is taken or a rule is broken."""
    email = normalise_email(email)
    if role not in ROLES:
        raise ValidationError(f"Role must be one of {', '.join(ROLES)}", field="role")
    if (role == "merchant") != (merchant is not None):
        raise ValidationError("Merchant staff need a merchant, and only they have one", field="merchant")
    if has_account(session, email):
        raise ValidationError("An account with this e-mail address already exists", field="email")
    user = User(email=email, name=name.strip(), password_hash=password_hash, role=role, merchant=merchant)
    session.add(user)
    session.flush()
    return user


def by_email(session: Session, email: str) -> User | None:
    """The user with this address as stored (normalised: trimmed, lower case), or None."""
    return session.scalar(sa.select(User).where(User.email == email))


def has_account(session: Session, email: str) -> bool:
    """Whether a normalised address belongs to an account."""
    return session.scalar(sa.select(User.id).where(User.email == email)) is not None


DISABLED = "This account is disabled. Please ask Giftloop support to enable it again."


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user whose address and password these are, or None (same cost either way).

    Raise ValidationError for a disabled account; only someone who knows its password learns that.
    """
    try:
        email = normalise_email(email)
    except ValidationError:
        email = ""
    user = by_email(session, email) if email else None
    if not verify_password(user.password_hash if user else None, password or ""):
        return None
    if not user.is_active:
        raise ValidationError(DISABLED)
    user.last_signed_in_at = utcnow()
    return user


def end_sessions(user: User) -> None:
    """End every session of the user, on every device: each cookie carries the version it was
    made with, and the user loader accepts only the current one. This process forgets the tokens
    it keeps, so a disabled account or a new role reaches its API calls at once here."""
    user.session_version += 1
    forget_cached_tokens()


def change_password(user: User, current: str, new: str) -> None:
    """Change a password; every other session of the user ends. Raise ValidationError if refused."""
    if not verify_password(user.password_hash, current or ""):
        raise ValidationError("That is not your current password", field="current_password")
    check_password_rule(new)
    user.password_hash = hash_password(new)
    end_sessions(user)
