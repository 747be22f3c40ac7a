"""Compressed answers: Flask-Compress packs what the app renders (pages, fragments, JSON) as zstd,
brotli or gzip, whichever the browser takes. Files under /static go as they are, with their ETag
for a 304: Flask-Compress would pack each one again on every request (and leaves the file open on
a 304), so in production the proxy in front serves /static, compressed once (README).

One rule of ours on top: an answer marked ``no-store`` (a revealed code) is never compressed, so
no secret shares a compressed body with text an attacker could steer (BREACH); the session cookie
is SameSite=Lax besides, so another site cannot make a browser fetch pages with it.
"""

from __future__ import annotations

from flask import Flask, Response
from flask_compress import Compress

compress = Compress()


def _unless_secret(response: Response) -> Response:
    if "no-store" in response.headers.get("Cache-Control", ""):
        return response
    return compress.after_request(response)


def init_app(app: Flask) -> None:
    app.config.setdefault("COMPRESS_REGISTER", False)  # registered below, behind the no-store rule
    app.config.setdefault("COMPRESS_MIN_SIZE", 1024)  # smaller answers fit in a packet anyway
    app.config.setdefault("COMPRESS_STREAMS", False)  # static files and CSV exports stream as they are
    compress.init_app(app)
    app.after_request(_unless_secret)
