"""Four deliveries of one paid webhook at the same moment on PostgreSQL issue one card."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.ledger import verify
from portal.models import GiftCard
from portal.models.orders import Order
from portal.orders.payment import receive_webhook
from portal.orders.placing import LineRequest, place_order
from portal.orders.programme import programme_for
from portal.payments import PAID
from portal.services import services
from portal.shop import payments

pytestmark = pytest.mark.postgres


def test_concurrent_deliveries_of_one_paid_event_issue_one_card(pg_app):
    with pg_app.test_request_context():
        order, _ = place_order(
            db.session, payments(), programme_for(db.session, "USD"), buyer=None, buyer_email="guest@example.com",
            lines=[LineRequest(amount="25.00", recipient_email="fran@example.com")], return_url=lambda ref: "/",
        )
        db.session.commit()
        webhook = payments().webhook(PAID, order_reference=order.reference, payment_reference=order.payment_reference,
                                     amount=order.total, currency=order.currency)
    barrier = threading.Barrier(4)
    results: list = [None] * 4

    def deliver(i: int) -> None:
        with pg_app.test_request_context():
            barrier.wait()
            results[i] = receive_webhook(db.session, services().vault, payments(), *webhook)
            db.session.commit()

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["already", "already", "already", "issued"]
    with pg_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(GiftCard.id))) == 1
        assert db.session.scalar(sa.select(Order.state)) == "fulfilled"
        assert verify(db.session) == []
