"""One helper decides page or fragment, so every URL works with and without htmx."""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request


def is_htmx() -> bool:
    """An htmx request that wants a fragment (a boosted link wants the whole page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def page_or_fragment(page: str, fragment: str, status: int = 200, **context):
    """Render the fragment for htmx, the page (which includes it) otherwise."""
    response = make_response(render_template(fragment if is_htmx() else page, **context), status)
    # Caches must keep the two answers of this URL apart (htmx's caching advice).
    response.vary.add("HX-Request")
    return response


def done(url: str, message: str | None = None):
    """After a change: go to ``url`` (a full navigation for htmx too), with a message there."""
    if message:
        flash(message, "success")
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, 303)
