"""Input no view should ever see: text with NUL characters, which PostgreSQL cannot store.

Refused for every request before any view runs, with a plain message, so a NUL typed into any
field or sent in any JSON string is a 400 that changes nothing rather than a 500 mid-transaction.
"""

from __future__ import annotations

from flask import Flask, request

from portal.web.errors import answer

NUL_MESSAGE = "Text may not contain NUL (zero) characters. Please remove them and try again."


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _refuse_nul():
    texts = [*request.args.values(), *request.form.values(), *request.headers.values(), request.path]
    if any("\x00" in text for text in texts) or (request.is_json and _has_nul(request.get_json(silent=True))):
        return answer(400, NUL_MESSAGE)
    return None


def init_app(app: Flask) -> None:
    app.before_request(_refuse_nul)
