"""What an htmx request needs that a plain one does not: the page it came from, and a way to leave it."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import redirect, request, url_for


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


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
