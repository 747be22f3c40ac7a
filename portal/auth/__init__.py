"""Sign-in sessions: loading the user, and ending sessions that were revoked or left idle.

A session is the signed cookie plus the user's ``session_version`` at sign-in. The user loader
already reads the user on every request, so comparing the version there costs no query of its
own: bumping it (sign-out, password change, role change, disabling, "sign out everywhere")
makes every cookie made before worthless, copies included. Staff and admin sessions also end
after ``STAFF_IDLE_TIMEOUT`` without a visit, tracked in the cookie (``seen_at``).
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from flask import Flask, current_app, flash, g, session
from flask_login import current_user, logout_user

from portal.auth import passwords
from portal.extensions import db, login_manager
from portal.models import User

SIGNED_OUT = "You were signed out. Please sign in again."
# How stale ``seen_at`` may get before a visit re-signs the cookie: not every request needs a new one.
SEEN_GRANULARITY_SECONDS = 60


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.signin"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    passwords.configure(app.config["ARGON2_MEMORY_KIB"], app.config["ARGON2_TIME_COST"])
    app.before_request(_end_ended_session)
    app.after_request(_note_visit)


def now() -> float:
    """Seconds since the epoch, as session timestamps are kept."""
    return time.time()


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user named in the session, if that session still stands: made with the user's current
    session version, and the account not disabled."""
    try:
        uid, version = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None
    return db.session.scalar(
        sa.select(User).where(User.id == uid, User.session_version == version, User.disabled_at.is_(None))
    )


def _signed_in_once() -> bool:
    """Whether the session names a user at all: without one (an API call, a visitor) nobody is
    loaded. Sign-in never sets a remember-me cookie, so the session is the only way in."""
    return "_user_id" in session


def _end_ended_session() -> None:
    """Forget a session that was revoked, that outlived a staff shift, or that sat idle too long
    (DESIGN §7), and say why on the sign-in page."""
    if not _signed_in_once():
        return
    if not current_user.is_authenticated:
        if "_user_id" in session:  # signed in once; revoked or disabled since
            _end(SIGNED_OUT)
        return
    if current_user.is_customer:
        return
    config = current_app.config
    lifetime = config["ADMIN_SESSION_LIFETIME" if current_user.is_admin else "STAFF_SESSION_LIFETIME"]
    idle = config["STAFF_IDLE_TIMEOUT"]
    started = session.get("signed_in_at")
    seen = session.get("seen_at", started)
    if started is None or now() - started > lifetime.total_seconds():
        _end(f"Your session ended after {_duration(lifetime.total_seconds())}. Please sign in again.")
    elif now() - seen > idle.total_seconds():
        _end(f"Your session ended after {_duration(idle.total_seconds())} without activity.")


def _end(reason: str) -> None:
    logout_user()
    session.clear()
    flash(reason, "info")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _note_visit(response):
    """A staff or admin visit restarts the idle clock; a page's own background poll does not."""
    if g.get("background_poll") or not _signed_in_once() or not current_user.is_authenticated or current_user.is_customer:
        return response
    if now() - session.get("seen_at", 0) >= SEEN_GRANULARITY_SECONDS:
        session["seen_at"] = now()
    return response
