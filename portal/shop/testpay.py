"""The ``test`` provider's hosted payment page: pay, decline or abandon, offline.

Its answer reaches the shop as a signed webhook through the same verifier and handler as the
HTTP endpoint, and a paid one is delivered twice (real providers retry), so the demo shows the
shop issuing one card per line however often it is told.
"""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for

from portal.extensions import db
from portal.orders.payment import receive_webhook
from portal.payments import EXPIRED, FAILED, PAID
from portal.services import services
from portal.shop import bp, payments
from portal.shop.routes import find_order

ACTIONS = {"pay": PAID, "decline": FAILED, "abandon": EXPIRED}
DELIVERIES = {PAID: 2, FAILED: 1, EXPIRED: 1}  # a paid event arrives twice: a retry's duplicate


def _test_provider():
    provider = payments()
    if provider.name != "test":
        abort(404)  # with a real provider the buyer pays on its site
    return provider


@bp.get("/shop/pay/<reference>")
def pay_page(reference: str):
    """The pretend card form of the test provider."""
    _test_provider()
    return render_template("shop/pay.html", order=find_order(reference))


@bp.post("/shop/pay/<reference>")
def pay(reference: str):
    """Settle the pretend payment and send its webhook, then return the buyer to the shop."""
    provider = _test_provider()
    order = find_order(reference)
    outcome = ACTIONS.get(request.form.get("action", ""))
    if outcome is None or order.state != "pending":
        return render_template("shop/pay.html", order=order), 400
    body, headers = provider.webhook(
        outcome, order_reference=order.reference, payment_reference=order.payment_reference,
        amount=order.total, currency=order.currency,
    )
    for _ in range(DELIVERIES[outcome]):
        receive_webhook(db.session, services().vault, provider, body, headers)
        db.session.commit()
    return redirect(url_for("shop.order", reference=reference, outcome=request.form["action"]), code=303)
