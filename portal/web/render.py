"""One helper decides page or fragment, so every URL works with and without htmx."""

from __future__ import annotations

from flask import make_response, render_template, request


def is_htmx() -> bool:
    """An htmx request that wants a fragment (a boosted link wants the whole page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def page_or_fragment(page: str, fragment: str, status: int = 200, **context):
    """Render the fragment for htmx, the page (which includes it) otherwise."""
    response = make_response(render_template(fragment if is_htmx() else page, **context), status)
    # Caches must keep the two answers of this URL apart (htmx's caching advice).
    response.vary.add("HX-Request")
    return response
