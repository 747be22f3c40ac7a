"""Input no view should ever see: text with NUL characters, which PostgreSQL cannot store.

Refused for every request before any view runs, with a plain message, so a NUL typed into any
field, query or header is a 400 that changes nothing rather than a 500 mid-transaction. An API
body is JSON, read only by the endpoint that takes it, after its token is checked: the one
function that reads it (``portal.api.body.json_body``) refuses a NUL in it the same way.
"""

from __future__ import annotations

from flask import Flask, request

from portal.web.errors import answer

NUL_MESSAGE = "Text may not contain NUL (zero) characters. Please remove them and try again."


def _refuse_nul():
    form = () if request.path.startswith("/api/") else request.form.values()  # the API takes no forms
    texts = [*request.args.values(), *form, *request.headers.values(), request.path]
    if any("\x00" in text for text in texts):
        return answer(400, NUL_MESSAGE)
    return None


def init_app(app: Flask) -> None:
    app.before_request(_refuse_nul)
