"""``POST /checkout``: a whole sale at a till in one call: customer, coupon and tenders, all or nothing.

The same domain calls as the till page, in one database transaction under one Idempotency-Key:
if any tender is refused, the problem names it (``field`` ``tenders[2].amount``) and nothing
moves (the coupon's use, the payments before it). Every payment carries the sale's reference,
so the sale is one group in the ledger. Card codes travel in the body, never in the URL.
"""

from __future__ import annotations

from flask import g

from portal.api import bp
from portal.api.contract import operation
from portal.api.coupons import COUPON_REFUSALS
from portal.api.idempotency import idempotent, request_key
from portal.api.models.checkout import Checkout, Tender
from portal.api.models.checkout import Sale as SaleAnswer
from portal.cards import operations
from portal.cards.lookup import find_card
from portal.errors import DomainError, ValidationError
from portal.extensions import db
from portal.ledger import Actor
from portal.models import Merchant
from portal.services import services
from portal.till import checkout, shopper
from portal.till.checkout import Sale
from portal.web.guards import roles
from portal.web.guessing import guarded


def _actor() -> Actor:
    user = g.api_token.user
    return Actor(user_id=user.id, token_id=g.api_token.id, merchant_id=user.merchant_id)


def _given(tender: Tender, name: str) -> str:
    """A tender's amount, Loops or code as the till's domain reads it: text (a number as its digits)."""
    value = getattr(tender, name)
    if value is None:
        raise ValidationError(f"Give the tender's {name}", field=name)
    return str(value)


def _pay(sale: Sale, merchant: Merchant, tender: Tender, i: int) -> None:
    """Take one tender towards the sale, under its own ledger key derived from the request's."""
    key = f"{request_key()}:{i}"
    if tender.type == "wallet":
        checkout.pay_by_wallet(db.session, sale, merchant, _given(tender, "amount"), actor=_actor(), idempotency_key=key)
    elif tender.type == "loops":
        checkout.pay_by_loops(db.session, sale, merchant, _given(tender, "loops"), actor=_actor(), idempotency_key=key)
    else:
        with guarded():
            card = find_card(db.session, _given(tender, "code"), services().vault, services().qr)
        _given(tender, "amount")
        amount = tender.money("amount", merchant.currency)
        if sale.total is None:
            raise ValidationError("Give the purchase total", field="total")
        checkout.check_amount(amount, sale, key)
        operations.redeem(
            db.session, card, amount, actor=_actor(), idempotency_key=key, merchant=merchant,
            reference=sale.reference, receipt=not checkout.on_sale_receipt(sale, card),
        )


def _answer(sale: Sale) -> dict:
    lines = []
    for line in checkout.receipt_lines(sale):
        tender = line.tender
        lines.append({
            "type": tender.source if tender else "coupon",
            "label": line.label,
            "amount": str(line.amount),
            "left_to_pay": str(line.left),
            "transaction_id": tender.transaction.id if tender else None,
        })
    customer = sale.customer
    return {
        "reference": sale.reference,
        "currency": sale.currency,
        "total": str(sale.total),
        "discount": str(sale.discount),
        "paid": str(sale.applied()),
        "remaining_due": str(sale.due()),
        "customer": {"first_name": customer.first_name, "present": customer.present} if customer else None,
        "lines": lines,
    }


@bp.post("/checkout")
@roles("merchant")
@operation("Checkout", SaleAnswer, status=201, errors=(404,),
           refusals=(*COUPON_REFUSALS, "insufficient_funds", "frozen", "cancelled"))
@idempotent
def sale_checkout(json: Checkout):
    """Take a whole sale: customer, coupon and tenders

    At the caller's store: total, customer, coupon, then each tender in order. All or nothing: if the customer,
    the coupon or any tender is refused, nothing moves, and the problem's `field` names it (`tenders[2].amount`).
    """
    merchant = g.api_token.user.merchant
    total = json.money("total", merchant.currency)
    sale = checkout.open_sale(db.session, merchant, checkout.new_id(), total, vault=services().vault)
    if who := json.customer:
        try:
            with guarded():
                sale.customer = shopper.identify(
                    db.session, who, codes=services().customer_codes, vault=services().vault, qr=services().qr
                )
        except DomainError as error:
            error.field = "customer"
            raise
    if coupon := json.coupon:
        try:
            with guarded():
                checkout.add_coupon(
                    db.session, services().vault, sale, merchant, coupon, user_id=g.api_token.user.id, channel="api"
                )
        except DomainError as error:
            error.field = "customer" if error.field == "customer_email" else "coupon"
            raise
    for i, tender in enumerate(json.tenders):
        try:
            _pay(sale, merchant, tender, i)
        except DomainError as error:
            error.field = f"tenders[{i}]" + (f".{error.field}" if error.field else "")
            raise
        # Read back from the ledger: the next tender sees what this one paid.
        sale = checkout.open_sale(db.session, merchant, sale.id, sale.total, vault=services().vault, customer=sale.customer)
    checkout.send_receipt_if_paid(db.session, sale, merchant)
    db.session.flush()
    return _answer(sale), 201

