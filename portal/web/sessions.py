"""Sessions: Flask's signed cookie, except that a page's own background poll is not a visit."""

from __future__ import annotations

from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface


class SessionInterface(SecureCookieSessionInterface):
    """A customer stays signed in for 30 days from their last visit. A poll an open page makes by
    itself (the live balance) is not a visit: it neither slides that expiry nor re-signs the
    cookie, so a card page left open on a phone does not keep the session alive for ever.

    The signing serializer is built once per set of keys, not per request (building one encodes a
    test value to learn its type: a third of the cost of a request that does nothing else)."""

    def __init__(self) -> None:
        self._signing: tuple[tuple, object] | None = None

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if self._signing is None or self._signing[0] != keys:
            self._signing = (keys, super().get_signing_serializer(app))
        return self._signing[1]

    def should_set_cookie(self, app: Flask, session) -> bool:
        # A static file is no visit either, and must not carry the session: a script still loading
        # when "Sign out" answers would set the old cookie again after it (and a cookie on a static
        # file keeps shared caches from keeping the file).
        if g.get("background_poll") or request.endpoint == "static":
            return session.modified
        return super().should_set_cookie(app, session)


def background_poll() -> None:
    """Mark this request as a page's own poll (see SessionInterface)."""
    g.background_poll = True


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()
