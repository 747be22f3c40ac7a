"""Bulk orders in the shop: many cards of one amount in one order, and e-mailing each card from
the order's page."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for

from portal.errors import DomainError, NotFound
from portal.extensions import db
from portal.orders.bulk import email_card, place_bulk_order
from portal.orders.programme import DESIGN_NAMES
from portal.services import services
from portal.shop import bp, payments
from portal.shop.routes import amount_from, find_order, order_url, place, programme, render_form

TEMPLATE = "shop/bulk.html"


@bp.get("/shop/bulk")
def bulk():
    """The bulk order form: how many cards, their amount and design."""
    return render_form(template=TEMPLATE)


@bp.post("/shop/bulk")
def buy_bulk():
    """Place a bulk order and send the buyer to pay. Nothing is charged here."""
    form = request.form
    return place(TEMPLATE, lambda customer: place_bulk_order(
        db.session, payments(), programme(), buyer=customer, buyer_email=form.get("buyer_email", ""),
        amount=amount_from(form), quantity=form.get("quantity"), design=form.get("design", "classic"),
        return_url=order_url,
    ))


@bp.post("/shop/orders/<reference>/cards/<int:line_id>/email")
def email_bulk_card(reference: str, line_id: int):
    """E-mail one card of a paid bulk order to its recipient (once), then show the order again."""
    order = find_order(reference)
    try:
        email_card(db.session, services().vault, order, line_id, request.form.get("recipient_email", ""))
    except NotFound:
        abort(404)
    except DomainError as error:
        db.session.rollback()
        page = render_template("shop/order.html", order=order, designs=DESIGN_NAMES, error=error, error_line=line_id)
        return page, 400
    db.session.commit()
    return redirect(url_for("shop.order", reference=reference, _anchor=f"card-{line_id}"), code=303)
