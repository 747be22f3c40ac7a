"""Error pages for people and problem documents for programs, chosen by the URL."""

from __future__ import annotations

from flask import Flask, flash, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from portal.extensions import db
from portal.web.bounds import too_large_message
from portal.web.guards import EVERYONE, allowed_roles
from portal.web.render import is_htmx, to_signin
from portal.web.problems import problem

MESSAGES = {
    400: "The request could not be understood.",
    403: "You don't have access to this page.",
    404: "We couldn't find that page.",
    405: "That action isn't available here.",
    429: "Too many attempts. Please wait and try again.",
    500: "Something went wrong on our side. Nothing was changed; please try again.",
}
CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    413: "payload_too_large", 429: "rate_limited",
}
# Headers an HTTP error carries for the client (Allow on a 405, Retry-After, WWW-Authenticate) are
# kept on the page or problem document that replaces Werkzeug's own answer.
_OWN_HEADERS = {"content-type", "content-length"}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def answer(status: int, message: str, headers: dict | None = None):
    if _wants_json():
        code = CODES.get(status, "server_error" if status >= 500 else "bad_request")
        return problem(code, message, status=status, headers=headers)
    if is_htmx():
        # Only the message: portal.js shows it beside the form that was sent, not a page in a panel.
        return render_template("errors/_message.html", message=message), status, headers or {}
    return render_template("errors/error.html", status=status, message=message), status, headers or {}


def _session_ended() -> bool:
    """A form for signed-in people, sent by someone no longer signed in: the session (and the CSRF
    token it held) ran out while the page stayed open."""
    endpoint = request.endpoint
    if endpoint is None or current_user.is_authenticated:
        return False
    return allowed_roles(endpoint) is not EVERYONE


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error):
        if _session_ended():
            flash("Your session has ended. Please sign in again to carry on.", "info")
            return to_signin()
        return answer(400, "This form has expired or was not sent from Giftloop. Reload the page and try again.")

    @app.errorhandler(ParseException)
    def _unreadable(error):
        # Raised by gunicorn while the body is read, when its chunks are not framed as chunks (a body
        # cut short is an OSError, which Werkzeug already answers with 400).
        return answer(400, "The request body could not be read: it was not framed as its headers said.")

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(error):
        return answer(413, too_large_message())

    @app.errorhandler(HTTPException)
    def _http(error):
        headers = {name: value for name, value in error.get_headers() if name.lower() not in _OWN_HEADERS}
        return answer(error.code or 500, MESSAGES.get(error.code, error.description), headers)

    @app.errorhandler(Exception)
    def _unexpected(error):
        db.session.rollback()
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return answer(500, MESSAGES[500])
