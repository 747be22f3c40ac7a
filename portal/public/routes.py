from flask import redirect, render_template, url_for
from flask_login import current_user

from portal.public import bp

HOME = {"customer": "customer.dashboard", "merchant": "merchant.checkout", "admin": "admin.overview"}


def home_for(user) -> str:
    """The URL a user lands on after signing in."""
    return url_for(HOME[user.role])


@bp.get("/")
def index():
    """Show the welcome page, or send a signed-in user to their portal."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return render_template("public/index.html")


@bp.get("/healthz")
def health():
    """Answer a load balancer's liveness probe."""
    return {"status": "ok"}
