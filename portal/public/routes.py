from pathlib import Path

from flask import Response, current_app, redirect, render_template
from flask_login import current_user

from portal.public import bp
from portal.web.home import home_for


@bp.get("/")
def index():
    """Show the welcome page, or send a signed-in user to their portal."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return render_template("public/index.html")


@bp.get("/favicon.ico")
def favicon():
    """Our own icon, for browsers that ask for /favicon.ico without reading the page's <link>."""
    # A few hundred bytes, read whole: a streamed file would stay open in every page-walking test.
    icon = Path(current_app.static_folder, "favicon.svg").read_bytes()
    return Response(icon, mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


@bp.get("/healthz")
def health():
    """Answer a load balancer's liveness probe."""
    return {"status": "ok"}
