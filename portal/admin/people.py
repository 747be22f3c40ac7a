"""People and roles, as admins change them. No HTTP here."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.auth.users import end_sessions
from portal.errors import ValidationError
from portal.ledger import Actor, audit, required_reason
from portal.models import Merchant, User, utcnow
from portal.models.users import ROLES


def change_role(
    session: Session, user: User, role: str, merchant: Merchant | None, *, actor: Actor, reason: str
) -> User:
    """Give a user another role (staff need their merchant); their other sessions end.

    Raise ValidationError for a blank reason, an unknown role, staff without a merchant, or an
    admin taking away their own admin role (someone must be left to run the programme).
    """
    reason = required_reason(reason)
    if role not in ROLES:
        raise ValidationError(f"A role is one of {', '.join(ROLES)}", field="role")
    if role == "merchant" and merchant is None:
        raise ValidationError("Choose the merchant this person works for", field="merchant")
    if user.id == actor.user_id and role != "admin":
        raise ValidationError("You cannot take away your own admin role; ask another admin", field="role")
    before = (user.role, user.merchant.slug if user.merchant else None)
    user.role = role
    user.merchant = merchant if role == "merchant" else None
    after = (user.role, user.merchant.slug if user.merchant else None)
    if before != after:
        end_sessions(user)
        audit(session, actor, "user.role_changed", f"user:{user.id}", reason,
              role_from=before[0], role_to=after[0], merchant=after[1])
    session.flush()
    return user


def disable_user(session: Session, user: User, *, actor: Actor, reason: str) -> User:
    """Disable an account: its sessions end at once, and no sign-in or API token works until an
    admin enables it again. Raise ValidationError for a blank reason, an account already
    disabled, or an admin disabling themselves."""
    reason = required_reason(reason)
    if user.id == actor.user_id:
        raise ValidationError("You cannot disable your own account; ask another admin", field="reason")
    if user.disabled_at is not None:
        raise ValidationError("This account is disabled already", field="reason")
    user.disabled_at = utcnow()
    end_sessions(user)
    audit(session, actor, "user.disabled", f"user:{user.id}", reason)
    session.flush()
    return user


def enable_user(session: Session, user: User, *, actor: Actor, reason: str) -> User:
    """Let a disabled account sign in again (its old sessions stay ended; its tokens work again
    unless revoked). Raise ValidationError for a blank reason or an account that is not disabled."""
    reason = required_reason(reason)
    if user.disabled_at is None:
        raise ValidationError("This account is not disabled", field="reason")
    user.disabled_at = None
    audit(session, actor, "user.enabled", f"user:{user.id}", reason)
    session.flush()
    return user
