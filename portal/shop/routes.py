"""Choosing a card, placing the order, and the order's page; the payment webhook."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import sqlalchemy as sa
from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user

from portal.errors import DomainError, LimitExceeded, RateLimited, ValidationError
from portal.extensions import csrf, db
from portal.models import User
from portal.models.orders import Order
from portal.orders.payment import receive_webhook
from portal.orders.placing import LineRequest, place_order
from portal.orders.programme import DESIGN_NAMES, programme_for
from portal.payments import InvalidWebhook
from portal.services import services
from portal.shop import bp, buyer_key, count_purchase, payments, shop_currency
from portal.web.responses import retry_after


def programme():
    return programme_for(db.session, shop_currency())


def buyer():
    """The signed-in customer buying, or None for a guest (staff and admins buy as guests)."""
    return current_user if current_user.is_authenticated and current_user.role == "customer" else None


def _date(raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError("Give the delivery date as a date, like 2027-05-01", field="deliver_on") from None


def amount_from(form) -> str:
    """The chosen preset amount, or the one typed under "Another amount"."""
    amount = form.get("amount", "")
    return form.get("custom_amount", "").strip() if amount == "other" else amount


def _line_from(form) -> LineRequest:
    for_friend = form.get("for") == "friend"
    return LineRequest(
        amount=amount_from(form),
        design=form.get("design", "classic"),
        recipient_name=form.get("recipient_name", "") if for_friend else "",
        recipient_email=form.get("recipient_email", "") if for_friend else "",
        message=form.get("message", "") if for_friend else "",
        deliver_on=_date(form.get("deliver_on", "")) if for_friend else None,
    )


def render_form(form=None, error: DomainError | None = None, status: int = 200, template: str = "shop/index.html"):
    """A shop form page, with what was typed and the refusal's reason by its field."""
    return render_template(
        template, programme=programme(), designs=DESIGN_NAMES, buyer=buyer(),
        form=form or {}, error=error, today=date.today().isoformat(),
    ), status


@bp.get("/shop")
def index():
    """The shop: amounts, designs, for whom."""
    return render_form()


@bp.post("/shop")
def buy():
    """Place the order and send the buyer to the provider's payment page. Nothing is charged here."""
    return place("shop/index.html", lambda customer: place_order(
        db.session, payments(), programme(), buyer=customer, buyer_email=request.form.get("buyer_email", ""),
        lines=[_line_from(request.form)], return_url=order_url,
    ))


def order_url(reference: str) -> str:
    """Where the provider sends the buyer back to, paid or not."""
    return url_for("shop.order", reference=reference, _external=True)


def place(template: str, placing: Callable[[User | None], tuple[Order, str]]):
    """Count the attempt, place the order with ``placing(buyer)`` and send the buyer to pay; a
    refusal shows ``template`` again with its reason."""
    customer = buyer()
    try:
        attempt = count_purchase(buyer_key(customer, request.form.get("buyer_email", "")))
    except RateLimited as error:
        page, _ = render_form(request.form, error, template=template)
        return page, 429, retry_after(error)
    try:
        _, checkout_url = placing(customer)
    except (ValidationError, LimitExceeded) as error:
        db.session.rollback()
        attempt.succeeded()  # a refused form is no order: it does not count
        return render_form(request.form, error, 400, template)
    db.session.commit()
    return redirect(checkout_url, code=303)


def find_order(reference: str) -> Order:
    order = db.session.scalar(sa.select(Order).where(Order.reference == reference))
    if order is None:
        abort(404)
    return order


@bp.get("/shop/orders/<reference>")
def order(reference: str):
    """Where the buyer comes back to: the order's state, read from the database (the return alone proves nothing)."""
    return render_template("shop/order.html", order=find_order(reference), designs=DESIGN_NAMES)


@bp.post("/shop/webhooks/<provider>")
@csrf.exempt
def webhook(provider: str):
    """The provider tells us about a payment. 200 once handled (or already), 400 if it does not verify."""
    if provider != payments().name:
        abort(404)
    try:
        outcome = receive_webhook(db.session, services().vault, payments(), request.get_data(), request.headers)
    except InvalidWebhook as error:
        db.session.rollback()
        current_app.logger.warning("payment webhook refused: %s", error)
        return {"error": str(error)}, 400
    db.session.commit()
    return {"received": outcome}
