"""Shop orders through the API (issue 25): a shop built elsewhere places an order and sends the buyer to the
provider's hosted checkout; the cards are issued only on the provider's webhook, as for the web shop."""

from __future__ import annotations

from urllib.parse import urljoin

import sqlalchemy as sa
from flask import g, request

from portal.api import bp
from portal.api import schemas as out
from portal.api.contract import Refused, operation
from portal.api.idempotency import idempotent
from portal.api.models.orders import Order as OrderAnswer
from portal.api.models.orders import Orders, PlaceOrder
from portal.api.models.paging import PageQuery
from portal.api.paging import keyset, requested_page
from portal.emails import normalise_email
from portal.errors import DomainError, LimitExceeded, NotFound, ValidationError
from portal.extensions import db
from portal.models import User
from portal.models.orders import Order
from portal.orders.bulk import place_bulk_order
from portal.orders.placing import LineRequest, place_order
from portal.orders.programme import programme_for
from portal.shop import buyer_key, count_purchase, payments, shop_currency
from portal.shop.routes import order_url
from portal.web.guards import roles

NOT_YOURS = "No order of yours has this id"


def order_body(order: Order, checkout_url: str | None = None) -> dict:
    """An order as its buyer sees it: no card code (those go by e-mail)."""
    body = {
        "id": order.id,
        "reference": order.reference,
        "state": order.state,
        "currency": order.currency,
        "total": out.amount(order.total, order.currency),
        "buyer_email": order.buyer_email,
        "bulk": order.bulk,
        "approval_required": order.approval_required,
        "created_at": out.when(order.created_at),
        "expires_at": out.when(order.expires_at),
        "paid_at": out.when(order.paid_at),
        "fulfilled_at": out.when(order.fulfilled_at),
        "lines": [{
            "id": line.id,
            "kind": line.kind,
            "amount": out.amount(line.amount, order.currency),
            "design": line.design,
            "recipient_email": line.recipient_email,
            "recipient_name": line.recipient_name,
            "message": line.message,
            "deliver_on": line.deliver_on.isoformat() if line.deliver_on else None,
            "card_id": line.card_id,
            "delivered_at": out.when(line.delivered_at),
        } for line in order.lines],
    }
    if checkout_url is not None:
        body["checkout_url"] = urljoin(request.host_url, checkout_url)  # the test provider's page is a path of ours
    return body


def _caller() -> User:
    return g.api_token.user


def _buyer(json: PlaceOrder) -> tuple[User | None, str]:
    """Who buys: a customer for themselves (at their own address), or an admin for a guest's address."""
    user = _caller()
    if user.role != "customer":
        return None, json.buyer_email or ""
    if json.buyer_email and normalise_email(json.buyer_email, field="buyer_email") != user.email:
        raise ValidationError("A customer's orders are billed to their own address: leave buyer_email out",
                              field="buyer_email")
    return user, user.email


def _refusal(error: DomainError, json: PlaceOrder) -> ValidationError:
    """A refused order as the API answers it: 422 validation_error with the reason, naming the field, and for a
    line's field pointing at it in the body (``/lines/1/amount``, ``/bulk/quantity``). A programme limit is refused
    the same way: the reason says which limit and what is left."""
    field, line = error.field, getattr(error, "line", None)
    if json.lines is not None and line is None and field in ("quantity", "amount"):  # too many cards; the day's total
        return Refused(error.message, "lines", "/lines")
    if json.bulk is not None and field not in (None, "buyer_email"):
        return Refused(error.message, f"bulk.{field}", f"/bulk/{field}")
    if line is not None and field is not None:
        return Refused(error.message, f"lines[{line}].{field}", f"/lines/{line}/{field}")
    return ValidationError(error.message, field=field)


def _place(json: PlaceOrder, buyer: User | None, email: str) -> tuple[Order, str]:
    programme = programme_for(db.session, shop_currency())
    if json.bulk is not None:
        bulk = json.bulk
        return place_bulk_order(
            db.session, payments(), programme, buyer=buyer, buyer_email=email, amount=str(bulk.amount),
            quantity=bulk.quantity, design=bulk.design, return_url=order_url,
        )
    lines = [LineRequest(
        amount=str(line.amount), design=line.design, recipient_name=line.recipient_name,
        recipient_email=line.recipient_email or "", message=line.message, deliver_on=line.deliver_on,
    ) for line in json.lines]
    return place_order(db.session, payments(), programme, buyer=buyer, buyer_email=email, lines=lines,
                       return_url=order_url)


@bp.post("/orders")
@roles("customer", "admin")
@operation("Orders", OrderAnswer, status=201, errors=(429,))
@idempotent
def order_place(json: PlaceOrder):
    """Place an order

    Cards of the shop's currency, for the buyer or for friends (`lines`), or many of one amount (`bulk`).
    The programme's limits are checked first (amount, card balance, cards per order, the buyer's day): a
    refusal is 422 naming the field and stores nothing. The order answers `pending` with `checkout_url`: send
    the buyer there to pay. Only the provider's confirmed payment turns it `paid` and issues the cards. Codes are
    never in this API: a friend's card is e-mailed on its delivery date, a guest's to the guest, a customer's own
    goes into their wallet. A customer buys for themselves; an admin places an order for a buyer's address (a
    shop of its own).
    """
    if (json.lines is None) == (json.bulk is None):
        raise ValidationError("Give the cards as lines or as bulk (one of them)", field="lines")
    buyer, email = _buyer(json)
    attempt = count_purchase(buyer_key(buyer, email))
    try:
        order, checkout_url = _place(json, buyer, email)
    except (ValidationError, LimitExceeded) as error:
        attempt.succeeded()  # a refused order is no order: it does not count
        raise _refusal(error, json) from None
    return order_body(order, checkout_url), 201


def _visible(user: User):
    """The orders a caller may read: a customer's own; an admin's, all."""
    return sa.true() if user.role == "admin" else Order.buyer_id == user.id


@bp.get("/orders")
@roles("customer", "admin")
@operation("Orders", Orders)
def orders_list(query: PageQuery):
    """Orders

    A customer's own orders, or every order for an admin; newest first, a page at a time.
    """
    select = sa.select(Order.id, Order).where(_visible(_caller()))
    orders, cursor = keyset(db.session, select, requested_page(query), Order.id)
    return {"orders": [order_body(order) for order in orders], "next_cursor": cursor}


@bp.get("/orders/<int:order_id>")
@roles("customer", "admin")
@operation("Orders", OrderAnswer, errors=(404,))
def order_show(order_id: int):
    """One order

    Its state and lines, the ids of the cards it issued once paid; another customer's order is not found.
    """
    order = db.session.scalar(sa.select(Order).where(Order.id == order_id, _visible(_caller())))
    if order is None:
        raise NotFound(NOT_YOURS)
    return order_body(order)
