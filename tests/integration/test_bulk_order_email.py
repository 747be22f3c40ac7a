"""A bulk order of fifty cards, paid, reaches the buyer through the real worker and an SMTP server
as ONE e-mail whose CSV holds fifty codes that each name one of the order's cards."""

from __future__ import annotations

import csv
import io
import time

import pytest

from portal.cards.lookup import find_card
from portal.extensions import db
from portal.orders.bulk import place_bulk_order
from portal.orders.payment import receive_webhook
from portal.orders.programme import programme_for
from portal.payments import PAID
from portal.services import services
from portal.shop import payments
from tests.processes import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_a_paid_bulk_order_of_fifty_arrives_as_one_email_with_fifty_codes(jobs_app, smtp, start_worker):
    start_worker()
    with jobs_app.test_request_context():
        order, _ = place_bulk_order(
            db.session, payments(), programme_for(db.session, "USD"), buyer=None, buyer_email="office@example.com",
            amount="10.00", quantity="50", design="thanks", return_url=lambda ref: "/",
        )
        db.session.commit()
        webhook = payments().webhook(PAID, order_reference=order.reference, payment_reference=order.payment_reference,
                                     amount=order.total, currency=order.currency)
        for _ in range(2):  # a provider's retry delivers it again
            receive_webhook(db.session, services().vault, payments(), *webhook)
            db.session.commit()
        card_ids = {line.card_id for line in order.lines}
    wait_for(lambda: smtp.mailbox.messages, what="the e-mail")
    time.sleep(2)  # anything more would have arrived by now
    (message,) = smtp.mailbox.parsed()
    assert message["To"] == "office@example.com" and "50" in message["Subject"]
    (attached,) = list(message.iter_attachments())
    rows = list(csv.DictReader(io.StringIO(attached.get_content())))
    assert len(rows) == 50
    with jobs_app.app_context():
        found = {find_card(db.session, row["Code"], services().vault, services().qr).id for row in rows}
    assert found == card_ids and len(card_ids) == 50
