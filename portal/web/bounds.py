"""How large a request body may be (DESIGN §7): ``MAX_CONTENT_LENGTH`` unless the view takes an upload.

Checked before anything reads the body, from ``Content-Length``, so a 200 MB body is refused with
413 without a byte of it read; a body without a length (chunked) is read up to the limit and
refused when it reaches it. A view that takes a file declares its own larger limit with
``@accepts_upload``, and only a caller its roles admit gets it: anyone else is held to the default.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from portal.web.guards import EVERYONE, allowed_roles


def accepts_upload(max_bytes: int):
    """Let the view take a body of up to ``max_bytes`` (a file upload) instead of the default."""

    def mark(view):
        view.max_content_length = max_bytes
        return view

    return mark


def _may_upload(endpoint: str) -> bool:
    wanted = allowed_roles(endpoint)
    return wanted is EVERYONE or (current_user.is_authenticated and current_user.role in wanted)


def _bound_the_body() -> None:
    environ = request.environ
    if not environ.get("CONTENT_LENGTH") and "HTTP_TRANSFER_ENCODING" not in environ:
        return  # no body at all (most requests): nothing to bound
    view = current_app.view_functions.get(request.endpoint or "")
    larger = getattr(view, "max_content_length", None)
    if larger is not None and _may_upload(request.endpoint):
        request.max_content_length = larger
    limit = request.max_content_length
    if limit is None:
        return
    if (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()
    if request.content_length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # No length to check: read the body now, at most the limit (Werkzeug would silently cut it
        # there), and refuse one that reaches it. Raw bytes, kept for whoever reads the body later.
        if len(request.get_data(cache=True)) >= limit:
            raise RequestEntityTooLarge()


def too_large_message() -> str:
    """What a person or program is told about a 413: the limit that applied to this request."""
    limit = request.max_content_length or 0
    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return f"What you sent is too large: at most {size} is accepted here. Nothing was changed."


def init_app(app: Flask) -> None:
    # Before CSRF protection, which reads the form: nothing may read a body larger than the limit.
    app.before_request(_bound_the_body)
