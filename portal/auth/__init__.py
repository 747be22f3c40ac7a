"""Sign-in sessions: loading the user, and ending staff sessions sooner than customers'."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from flask import Flask, current_app, session
from flask_login import current_user, logout_user

from portal.auth import passwords
from portal.extensions import db, login_manager
from portal.models import User


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.signin"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    passwords.configure(app.config["ARGON2_MEMORY_KIB"], app.config["ARGON2_TIME_COST"])
    app.before_request(_end_stale_staff_session)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Load the user named in the session, unless their password changed since."""
    try:
        uid, version = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None
    return db.session.scalar(sa.select(User).where(User.id == uid, User.session_version == version))


def _end_stale_staff_session() -> None:
    """Merchant and admin sessions last hours, not a month (DESIGN §7)."""
    if not current_user.is_authenticated or current_user.is_customer:
        return
    started = session.get("signed_in_at")
    limit = current_app.config[
        "ADMIN_SESSION_LIFETIME" if current_user.is_admin else "STAFF_SESSION_LIFETIME"
    ]
    if started is None or datetime.now(timezone.utc).timestamp() - started > limit.total_seconds():
        logout_user()
        session.clear()
