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


def _change(order_id: int, change, message):
    """Run one change on an order; a refusal is flashed above the list and changes nothing."""
    order = db.session.get(Order, order_id) or abort(404)
    try:
        result = change(order)
    except ValidationError as error:
        db.session.rollback()
        flash(error.message, "error")
        return done(url_for(".orders"))
    db.session.commit()
    return done(url_for(".orders"), message(order, result))


@bp.post("/orders/<int:order_id>/approve")
def order_approve(order_id: int):
    """Issue the cards of a paid order that waited for approval."""
    return _change(
        order_id, lambda order: approve(db.session, services().vault, order, actor=actor()),
        lambda order, _: f"Order {order.id} is approved: its cards are issued.",
    )


@bp.post("/orders/<int:order_id>/refund")
def order_refund(order_id: int):
    """Refund what is left of an order's cards and cancel them; say what was spent and stays paid."""
    return _change(
        order_id,
        lambda order: refund_order(db.session, payments(), order, actor=actor(), reason=request.form.get("reason", "")),
        lambda order, result: f"Order {order.id}: {result.describe()}.",
    )
