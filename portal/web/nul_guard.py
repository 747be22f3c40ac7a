"""Input no view should ever see: text with NUL characters, which PostgreSQL cannot store.

Refused for every request before any view runs, with a plain message, so a NUL typed into any
field, query or header is a 400 that changes nothing rather than a 500 mid-transaction. An API
body is JSON, read only by the endpoint that takes it, after its token is checked: the one
function that reads it (``portal.api.body.json_body``) refuses a NUL in it the same way.

This runs on every request, so it reads the raw WSGI values and parses only what could hold a
NUL: a query string is decoded only when its raw text has one (``%00`` or the byte itself), and
a form only when the body is one.
"""

from __future__ import annotations

from flask import Flask, request

from portal.web.errors import answer

NUL_MESSAGE = "Text may not contain NUL (zero) characters. Please remove them and try again."
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})  # what Werkzeug parses
UNPREFIXED_HEADERS = ("CONTENT_TYPE", "CONTENT_LENGTH")


def _in_headers(environ: dict) -> bool:
    return any(
        "\x00" in value
        for key, value in environ.items()
        if (key.startswith("HTTP_") or key in UNPREFIXED_HEADERS) and isinstance(value, str)
    )


def _in_query(environ: dict) -> bool:
    raw = environ.get("QUERY_STRING", "")
    if "%00" not in raw and "\x00" not in raw:
        return False
    return any("\x00" in text for pair in request.args.items(multi=True) for text in pair)


def _in_form() -> bool:
    if request.path.startswith("/api/") or request.mimetype not in FORM_TYPES:
        return False  # the API takes no forms; other bodies are no form to Werkzeug either
    return any("\x00" in text for pair in request.form.items(multi=True) for text in pair)


def _refuse_nul():
    environ = request.environ
    if "\x00" in request.path or _in_headers(environ) or _in_query(environ) or _in_form():
        return answer(400, NUL_MESSAGE)
    return None


def init_app(app: Flask) -> None:
    app.before_request(_refuse_nul)
