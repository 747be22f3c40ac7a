"""Guessing protection for every code look-up and redemption (DESIGN §7, OWASP OAT-002).

Failed look-ups spend budgets, each with its own limit: the account's (every token and session of
one user together), the client address's (higher: a shop, an office or a NAT shares one) and, for
a card code, its prefix's (one card aimed at from many addresses). Staff and admins spend only
their account's, so no guesser on the shop's network or aiming at a prefix can lock a till out.
Past a limit every attempt, even with a valid code, is refused with 429 and ``Retry-After`` until
the window ends, and the lock-out is recorded for admins (who may lift it). Every channel (public
page, customer redeem, merchant till, API) goes through ``guarded``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import after_this_request, g, request
from flask_login import current_user

from portal.cards.codes import mask_codes
from portal.errors import NotFound, RateLimited
from portal.extensions import db
from portal.models import SecurityEvent, User
from portal.services import services
from portal.throttle import Attempt
from portal.web import redis_batch

LOCKED = "code_guessing_locked"  # the security event of a budget run out
STAFF_ROLES = ("merchant", "admin")


def _caller() -> User | None:
    """Who is looking a code up: the API token's user, the signed-in user, or nobody."""
    token = g.get("api_token")
    if token is not None:
        return token.user
    return current_user if current_user.is_authenticated else None


def _subjects(code: str | None) -> tuple[str, ...]:
    """The budgets this look-up spends."""
    user = _caller()
    if user is not None and user.role in STAFF_ROLES:
        return (f"user:{user.id}",)
    subjects = [f"ip:{request.remote_addr}"]
    if user is not None:
        subjects.append(f"user:{user.id}")
    if code and (tag := services().vault.prefix_tag(code)):
        subjects.append(f"prefix:{tag}")
    return tuple(subjects)


def _locked_out(wait: int) -> RateLimited:
    minutes = max(1, round(wait / 60))
    return RateLimited(
        f"Too many codes that didn't work. Please wait {minutes} minute{'s' if minutes > 1 else ''} and try again.",
        retry_after=wait,
    )


def _record_lockouts(reached: list[str]) -> None:
    """A security event for each subject that just hit the limit, in a commit of its own
    (the refused operation's transaction is rolled back). The detail names the route, not the
    path: an API path carries the code."""
    if reached:
        route = request.url_rule.rule if request.url_rule is not None else request.path
        detail = mask_codes(f"{request.method} {route}")  # an unmatched path may still carry a code
        with db.session.no_autoflush:
            for subject in reached:
                db.session.add(SecurityEvent(kind=LOCKED, subject=subject, detail=detail))
        db.session.commit()


def _give_back_after_request(attempt: Attempt) -> None:
    """Give the attempt back once the request's own transaction is over: while Redis is down the
    counters are rows, and on SQLite their update would wait for this request's write lock."""

    @after_this_request
    def give_back(response):
        attempt.succeeded(later=redis_batch.later)  # with the request's other Redis writes
        return response


@contextmanager
def guarded(code: str | None = None) -> Iterator[None]:
    """Refuse a locked-out caller; count a code that does not exist as a failure.

    ``code`` is the text the caller typed, when a card code there may count against its prefix.
    The look-up is counted before it runs and given back unless the code did not exist, so
    guesses sent many at a time cannot slip past the limit together.
    """
    attempt = services().guess_throttle.attempt(*_subjects(code))
    if attempt.wait:
        raise _locked_out(attempt.wait)
    try:
        yield
    except NotFound:
        db.session.rollback()
        _record_lockouts(attempt.failed())
        raise
    except BaseException:
        _give_back_after_request(attempt)  # refused for another reason (a typo, a frozen card): not a guess
        raise
    else:
        _give_back_after_request(attempt)
