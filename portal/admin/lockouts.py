"""Lock-outs on the overview: which still hold, and lifting one (audited)."""

from __future__ import annotations

from flask import flash, request, url_for

from portal.admin import bp
from portal.admin.responses import actor
from portal.extensions import db
from portal.ledger import audit
from portal.services import services
from portal.throttle import Throttle
from portal.web.guessing import LOCKED as CODE_GUESSING_LOCKED
from portal.web.render import done

SIGNIN_LOCKED = "signin_locked"


def _throttle(kind: str) -> Throttle | None:
    """The limit a lock-out event of this kind was recorded by."""
    return {CODE_GUESSING_LOCKED: services().guess_throttle, SIGNIN_LOCKED: services().signin_throttle}.get(kind)


def still_locked(events) -> dict[tuple[str, str], int]:
    """The seconds each (kind, subject) of these security events stays locked out; none for those
    that may try again already."""
    waits = {}
    for event in events:
        throttle = _throttle(event.kind)
        if throttle is not None and (event.kind, event.subject) not in waits:
            waits[(event.kind, event.subject)] = throttle.retry_after(event.subject)
    return {pair: wait for pair, wait in waits.items() if wait}


@bp.post("/lockouts/lift")
def lockout_lift():
    """Let a locked-out account, address or code prefix try again now, before its window ends."""
    kind, subject = request.form.get("kind", ""), request.form.get("subject", "").strip()
    throttle = _throttle(kind)
    if throttle is None or not subject:
        flash("That is not a lock-out: choose one from the list of security events.", "error")
        return done(url_for(".overview"))
    throttle.clear(subject)
    # The audit target has room for 80 characters; a long e-mail address is kept whole in the detail.
    audit(db.session, actor(), "lockout.lifted", subject[:80], kind=kind, subject=subject)
    db.session.commit()
    return done(url_for(".overview"), f"The lock-out of {subject} is lifted: it may try again now.")
