from flask import render_template
from flask_login import current_user

from portal.merchant import bp


@bp.get("/")
def checkout():
    """Show the checkout screen for the signed-in staff member's store."""
    return render_template("merchant/checkout.html", merchant=current_user.merchant)
