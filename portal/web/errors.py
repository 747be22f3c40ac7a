"""Error pages for people and problem documents for programs, chosen by the URL."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portal.extensions import db
from portal.web.problems import problem

MESSAGES = {
    400: "The request could not be understood.",
    403: "You don't have access to this page.",
    404: "We couldn't find that page.",
    405: "That action isn't available here.",
    429: "Too many attempts. Please wait and try again.",
    500: "Something went wrong on our side. Nothing was changed; please try again.",
}
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "rate_limited"}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def answer(status: int, message: str):
    if _wants_json():
        return problem(CODES.get(status, "server_error" if status >= 500 else "bad_request"), message, status=status)
    return render_template("errors/error.html", status=status, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error):
        return answer(400, "This form has expired or was not sent from Giftloop. Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def _http(error):
        return answer(error.code or 500, MESSAGES.get(error.code, error.description))

    @app.errorhandler(Exception)
    def _unexpected(error):
        db.session.rollback()
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return answer(500, MESSAGES[500])
