"""Wallet → Orders: what the customer bought in the shop, and where each order stands."""

from flask import render_template
from flask_login import current_user

from portal.customer import bp
from portal.extensions import db
from portal.orders.programme import DESIGN_NAMES
from portal.orders.queries import orders_of


@bp.get("/orders")
def orders():
    """List the customer's shop orders, newest first."""
    return render_template("customer/orders/index.html", orders=orders_of(db.session, current_user.id),
                           designs=DESIGN_NAMES)
