"""Four payments of one buyer confirmed at the same moment on PostgreSQL load no more than the
programme's daily maximum: the limit is the WHERE of the statement that counts the day."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.ledger import SYSTEM, verify
from portal.models import Account, GiftCard
from portal.models.orders import DailyLoad, Order
from portal.orders.payment import receive_webhook
from portal.orders.placing import LineRequest, place_order
from portal.orders.programme import programme_for, set_limits
from portal.payments import PAID
from portal.services import services
from portal.shop import payments
from tests.concurrency import at_once

pytestmark = pytest.mark.postgres

LIMITS = {"min_purchase": "5.00", "max_purchase": "100.00", "max_card_balance": "150.00",
          "max_daily_per_customer": "500.00", "max_cards_per_order": "10"}


def test_concurrent_payments_of_one_buyer_load_only_the_daily_maximum(pg_app):
    with pg_app.test_request_context():
        set_limits(db.session, SYSTEM, "USD", LIMITS)
        orders = [
            place_order(
                db.session, payments(), programme_for(db.session, "USD"), buyer=None, buyer_email="guest@example.com",
                lines=[LineRequest(amount="40.00")], return_url=lambda ref: "/",
            )[0]
            for _ in range(4)
        ]
        # Placed under a daily maximum of 500.00; before they are paid the admin lowers it to 100.00.
        set_limits(db.session, SYSTEM, "USD", {**LIMITS, "max_daily_per_customer": "100.00"})
        db.session.commit()
        webhooks = [
            payments().webhook(PAID, order_reference=order.reference, payment_reference=order.payment_reference,
                               amount=order.total, currency=order.currency)
            for order in orders
        ]
    results = at_once(pg_app, 4, lambda i: receive_webhook(db.session, services().vault, payments(), *webhooks[i]))
    assert sorted(results) == ["issued", "issued", "refunded", "refunded"]
    with pg_app.app_context():
        card_total = db.session.scalar(
            sa.select(sa.func.sum(Account.balance)).join(GiftCard, GiftCard.account_id == Account.id)
        )
        assert card_total == 8000  # two cards of 40.00: the third would make 120.00
        assert db.session.scalar(sa.select(DailyLoad.loaded)) == 8000
        states = db.session.scalars(sa.select(Order.state)).all()
        assert sorted(states) == ["fulfilled", "fulfilled", "refunded", "refunded"]
        assert verify(db.session) == []
