"""One helper decides page or fragment, so every URL works with and without htmx; and where an htmx
request came from and how it leaves the page."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, make_response, redirect, render_template, request, session, url_for


def is_htmx() -> bool:
    """An htmx request that wants a fragment (a boosted link wants the whole page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def page_or_fragment(page: str, fragment: str, status: int = 200, **context):
    """Render the fragment for htmx, the page (which includes it) otherwise."""
    return varies_with_htmx(make_response(render_template(fragment if is_htmx() else page, **context), status))


def varies_with_htmx(response):
    """Mark an answer that depends on ``HX-Request``: caches must keep the htmx and the plain
    answer of one URL apart (htmx's caching advice). The one place that sets this Vary."""
    response.vary.add("HX-Request")
    return response


def done(url: str, message: str | None = None):
    """After a change: go to ``url`` (a full navigation for htmx too), with a message there."""
    if message and ("success", message) not in session.get("_flashes", []):
        # A double click (or a retry) replays the change: it must not say so twice on the next page.
        flash(message, "success")
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, 303)


def current_page() -> str | None:
    """The path (and query) of the page the user is looking at: htmx names it in HX-Current-URL, a
    plain form post in Referer. Only a page of this site counts (sign-in checks ``next`` again)."""
    url = request.headers.get("HX-Current-URL") if is_htmx() else request.referrer
    if not url:
        return None
    parts = urlsplit(url)
    if parts.netloc != request.host:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def to_signin():
    """Send a visitor whose session has ended to sign-in, and from there back to the page they were on.

    A GET comes back to itself; a form post comes back to the page that held the form (its own URL
    is not a page). htmx would follow a redirect inside the panel, so it is told to load sign-in as
    the whole page instead (HX-Redirect, which it obeys whatever the status)."""
    if request.method == "GET" and not is_htmx():
        back = request.full_path.rstrip("?")
    else:
        back = current_page()
    target = url_for("auth.signin", next=back) if back else url_for("auth.signin")
    if is_htmx():
        return "", 401, {"HX-Redirect": target}
    return redirect(target)
