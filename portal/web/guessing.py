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

from portal.cards.codes import mask_codes
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


def _locked_out(wait: int) -> RateLimited:
    minutes = max(1, round(wait / 60))
    return RateLimited(
        f"Too many codes that didn't work. Please wait {minutes} minute{'s' if minutes > 1 else ''} and try again.",
        retry_after=wait,
    )


def _record_lockouts(reached: list[str]) -> None:
    """A security event for each subject that just hit the limit, in a commit of its own
    (the refused operation's transaction is rolled back)."""
    if reached:
        detail = mask_codes(f"{request.method} {request.path}")  # a client may still put a code in a URL
        with db.session.no_autoflush:
            for subject in reached:
                db.session.add(SecurityEvent(kind="code_guessing_locked", subject=subject, detail=detail))
        db.session.commit()


@contextmanager
def guarded() -> Iterator[None]:
    """Refuse a locked-out caller; count a code that does not exist as a failure.

    The look-up is counted before it runs and given back unless the code did not exist, so
    guesses sent many at a time cannot slip past the limit together.
    """
    attempt = services().guess_throttle.attempt(*_subjects())
    if attempt.wait:
        raise _locked_out(attempt.wait)
    try:
        yield
    except NotFound:
        db.session.rollback()
        _record_lockouts(attempt.failed())
        raise
    except BaseException:
        attempt.succeeded()  # refused for another reason (a typo, a frozen card): not a guess
        raise
    else:
        attempt.succeeded()
