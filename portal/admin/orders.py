"""Shop orders for admins: the most recent, and refunding one (with a reason, audited)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, render_template, request, url_for

from portal.admin import bp
from portal.admin.responses import actor
from portal.errors import ValidationError
from portal.extensions import db
from portal.models.orders import Order
from portal.orders.payment import approve
from portal.orders.refunds import refund_order
from portal.services import services
from portal.shop import payments
from portal.web.render import done

RECENT = 100


@bp.get("/orders")
def orders():
    """The latest shop orders, newest first."""
    recent = db.session.scalars(sa.select(Order).order_by(Order.id.desc()).limit(RECENT)).all()
    return render_template("admin/orders.html", orders=recent)


@bp.post("/orders/<int:order_id>/approve")
def order_approve(order_id: int):
    """Issue the cards of a paid order that waited for approval."""
    order = db.session.get(Order, order_id) or abort(404)
    try:
        approve(db.session, services().vault, order, actor=actor())
    except ValidationError as error:
        db.session.rollback()
        flash(error.message, "error")
        return done(url_for(".orders"))
    db.session.commit()
    return done(url_for(".orders"), f"Order {order.id} is approved: its cards are issued.")


@bp.post("/orders/<int:order_id>/refund")
def order_refund(order_id: int):
    """Refund what is left of an order's cards and cancel them; say what was spent and stays paid."""
    order = db.session.get(Order, order_id) or abort(404)
    try:
        result = refund_order(db.session, payments(), order, actor=actor(), reason=request.form.get("reason", ""))
    except ValidationError as error:
        db.session.rollback()
        flash(error.message, "error")
        return done(url_for(".orders"))
    db.session.commit()
    return done(url_for(".orders"), f"Order {order.id}: {result.describe()}.")
