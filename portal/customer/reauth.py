"""How customer views ask for the password again before they show a code."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import request, session
from flask_login import current_user

from portal.auth.passwords import verify_password
from portal.errors import RateLimited, ValidationError
from portal.extensions import db
from portal.models import SecurityEvent
from portal.services import services

REAUTH_SECONDS = 10 * 60  # codes are shown only within ten minutes of typing the password


def signed_in_recently() -> bool:
    """Whether the password was typed in this session within the last ten minutes."""
    started = session.get("signed_in_at")
    now = datetime.now(timezone.utc).timestamp()
    return started is not None and 0 <= now - started <= REAUTH_SECONDS


def confirm_password(password: str) -> None:
    """Check the signed-in user's password again and start a fresh ten minutes.

    Raise RateLimited after too many wrong passwords (they count with sign-in failures, so this
    is no side door for guessing), ValidationError if the password is wrong.
    """
    attempt = services().signin_throttle.attempt(f"ip:{request.remote_addr}", f"email:{current_user.email}")
    if attempt.wait:
        minutes = max(1, round(attempt.wait / 60))
        raise RateLimited(
            f"Too many wrong passwords. Please wait {minutes} minute{'s' if minutes > 1 else ''} and try again.",
            retry_after=attempt.wait,
        )
    if not verify_password(current_user.password_hash, password or ""):
        for subject in attempt.failed():
            db.session.add(SecurityEvent(kind="signin_locked", subject=subject, detail="too many wrong passwords"))
        db.session.commit()
        raise ValidationError("That password is not right", field="password")
    attempt.succeeded()
    session["signed_in_at"] = datetime.now(timezone.utc).timestamp()
