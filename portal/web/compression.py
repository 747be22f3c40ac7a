"""Gzip for text answers (pages, fragments, styles, scripts, JSON) when the browser accepts it.

gunicorn sends what the app hands it, so without this nothing would be compressed unless a proxy
in front does it. Static files are compressed once per version (their ETag) and kept in memory;
pages per request, at a level that costs little CPU. Small answers go as they are: they fit in a
packet anyway. An answer marked ``no-store`` (a revealed code) is never compressed, so no secret
shares a compressed body with text an attacker could steer (BREACH); the session cookie is
SameSite=Lax besides, so another site cannot make a browser fetch pages with it.
"""

from __future__ import annotations

import gzip
from collections import OrderedDict

from flask import Flask, Response, request

MIN_BYTES = 1024
PAGE_LEVEL = 5  # most of level 9's saving on HTML at a fraction of its time
STATIC_LEVEL = 9  # once per file version
STATIC_CACHE_ENTRIES = 64
TEXT_TYPES = frozenset({
    "text/html", "text/css", "text/javascript", "application/javascript", "application/json",
    "application/problem+json", "image/svg+xml",
})

_static: OrderedDict[tuple[str, str], bytes] = OrderedDict()


def _static_body(response: Response) -> bytes:
    """A static file's gzip body, made once per path and ETag (a changed file has a new ETag)."""
    key = (request.path, response.headers.get("ETag", ""))
    response.direct_passthrough = False
    body = _static.get(key)
    if body is None:
        body = gzip.compress(response.get_data(), STATIC_LEVEL, mtime=0)
        _static[key] = body
        if len(_static) > STATIC_CACHE_ENTRIES:
            _static.popitem(last=False)
    else:
        _static.move_to_end(key)
    response.close()  # the file send_file opened
    return body


def _wanted(response: Response) -> bool:
    if response.status_code != 200 or "Content-Encoding" in response.headers:
        return False
    if "no-store" in response.headers.get("Cache-Control", ""):
        return False
    length = response.content_length
    return length is None or length >= MIN_BYTES


def compress(response: Response) -> Response:
    """Gzip the response in place when it is text, big enough, and the client takes gzip."""
    if response.mimetype not in TEXT_TYPES:
        return response
    length = response.content_length
    if response.status_code == 200 and length is not None and length < MIN_BYTES:
        return response  # too small to pack for anyone: the same bytes whatever the client accepts
    response.vary.add("Accept-Encoding")
    if not request.accept_encodings["gzip"] or not _wanted(response):
        return response
    if request.endpoint == "static" and response.direct_passthrough:
        body = _static_body(response)
    elif response.is_streamed:
        return response  # a CSV export streams as it is made
    else:
        data = response.get_data()
        if len(data) < MIN_BYTES:
            return response
        body = gzip.compress(data, PAGE_LEVEL, mtime=0)
    response.set_data(body)
    response.headers["Content-Encoding"] = "gzip"
    etag, weak = response.get_etag()
    if etag:
        # The same resource in another encoding: a weak validator (If-None-Match compares weakly).
        response.set_etag(etag, weak=True)
    return response


def init_app(app: Flask) -> None:
    app.after_request(compress)
