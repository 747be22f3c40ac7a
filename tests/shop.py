"""The shop in tests: a gift order as its form sends it, the provider's webhook, and the programme's limits."""

from __future__ import annotations

import sqlalchemy as sa

from portal.extensions import db
from portal.models import GiftCard, OutboxMessage
from portal.models.orders import Order
from portal.shop import payments
from tests.conftest import submit

FOR_A_FRIEND = {
    "amount": "25.00", "design": "birthday", "for": "friend", "recipient_name": "Fran",
    "recipient_email": "fran@example.com", "message": "Happy birthday!", "buyer_email": "guest@example.com",
}


def buy(client, **changes):
    return submit(client, "/shop", {**FOR_A_FRIEND, **changes}, page="/shop")


def latest_order(app) -> Order:
    with app.app_context():
        order = db.session.scalar(sa.select(Order).order_by(Order.id.desc()).limit(1))
        db.session.expunge(order)
        return order


def webhook(app, order: Order, outcome: str, *, amount: int | None = None):
    with app.test_request_context():
        return payments().webhook(
            outcome, order_reference=order.reference, payment_reference=order.payment_reference,
            amount=order.total if amount is None else amount, currency=order.currency,
        )


def deliver(client, body: bytes, headers: dict):
    return client.post("/shop/webhooks/test", data=body, headers=headers)


def all_cards(app) -> list[GiftCard]:
    with app.app_context():
        return db.session.scalars(sa.select(GiftCard)).all()


def mail_to(app, address: str) -> list[OutboxMessage]:
    with app.app_context():
        return db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.recipient == address)).all()


LIMITS = {"min_purchase": "5.00", "max_purchase": "100.00", "max_card_balance": "150.00",
          "max_daily_per_customer": "120.00", "max_cards_per_order": "10"}


def set_limits(client, auth, people, **changes):
    auth.login(people["admin"])
    answer = submit(client, "/admin/programme", {**LIMITS, **changes})
    auth.logout()
    return answer
