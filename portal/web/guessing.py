"""Guessing protection for every code look-up and redemption (DESIGN §7, OWASP OAT-002).

Failed look-ups count per network address and per user or token; past the limit every
attempt, even with a valid code, is refused with 429 and ``Retry-After`` until the window
ends, and the lock-out is recorded for admins. Every channel (public page, customer redeem,
merchant till, API) goes through ``guarded``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import g, request
from flask_login import current_user

from portal.errors import NotFound, RateLimited
from portal.extensions import db
from portal.models import SecurityEvent
from portal.services import services


def _subjects() -> tuple[str, ...]:
    subjects = [f"ip:{request.remote_addr}"]
    token = g.get("api_token")
    if token is not None:
        subjects.append(f"token:{token.id}")
    elif current_user.is_authenticated:
        subjects.append(f"user:{current_user.id}")
    return tuple(subjects)


def refuse_if_locked() -> None:
    """Raise RateLimited if this caller is over the limit of failed look-ups."""
    wait = services().guess_throttle.retry_after(*_subjects())
    if wait:
        minutes = max(1, round(wait / 60))
        raise RateLimited(
            f"Too many codes that didn't work. Please wait {minutes} minute{'s' if minutes > 1 else ''} and try again.",
            retry_after=wait,
        )


def count_failure() -> None:
    """Count a failed look-up; record a security event for each subject that just hit the limit."""
    reached = services().guess_throttle.fail(*_subjects())
    if reached:
        with db.session.no_autoflush:
            for subject in reached:
                db.session.add(SecurityEvent(kind="code_guessing_locked", subject=subject, detail=f"{request.method} {request.path}"))
        # Its own commit: the refused operation's transaction is rolled back.
        db.session.commit()


@contextmanager
def guarded() -> Iterator[None]:
    """Refuse a locked-out caller; count a code that does not exist as a failure."""
    refuse_if_locked()
    try:
        yield
    except NotFound:
        db.session.rollback()
        count_failure()
        raise
