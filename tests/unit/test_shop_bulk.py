"""A bulk order: fifty cards of one amount in one order, their codes to the buyer in ONE e-mail
with a CSV, each card e-mailed to its own recipient from the order page, and the maximum enforced."""

from __future__ import annotations

import csv
import email
import io
from email import policy

import sqlalchemy as sa

from portal.cards.lookup import find_card
from portal.extensions import db
from portal.ledger import SYSTEM
from portal.ledger.verify import verify
from portal.models import GiftCard, OutboxMessage
from portal.models.orders import Order
from portal.notifications.rendering import render
from portal.orders.refunds import refund_order
from portal.services import services
from portal.shop import payments
from tests.conftest import submit
from tests.pages import text
from tests.shop import all_cards, latest_order, mail_to, set_limits

BUYER = "office@example.com"
FIFTY = {"quantity": "50", "amount": "10.00", "design": "thanks", "buyer_email": BUYER}


def _order_fifty(client, **changes):
    return submit(client, "/shop/bulk", {**FIFTY, **changes}, page="/shop/bulk")


def _pay(client, order: Order):
    page = f"/shop/pay/{order.reference}"
    return submit(client, page, {"action": "pay"}, page=page)


def _attachment(app, mail: OutboxMessage) -> list[dict]:
    with app.app_context():
        sent = render(db.session, db.session.get(OutboxMessage, mail.id)).message.as_bytes()
    [attached] = list(email.message_from_bytes(sent, policy=policy.default).iter_attachments())  # as read
    assert attached.get_content_type() == "text/csv"
    return list(csv.DictReader(io.StringIO(attached.get_content())))


def test_a_bulk_order_of_fifty_sends_the_buyer_one_email_with_fifty_working_codes(app, client, people):
    """Does paying for fifty 10.00 cards issue fifty bearer cards and e-mail the buyer once, with every code?"""
    assert 'href="/shop/bulk"' in client.get("/shop").get_data(as_text=True)
    assert _order_fifty(client).status_code == 303
    order = latest_order(app)
    assert order.bulk and order.total == 50000 and len(order.lines) == 50
    _pay(client, order)  # the test provider delivers the paid webhook twice
    cards = all_cards(app)
    assert len(cards) == 50 and all(card.owner_id is None for card in cards)
    [mail] = mail_to(app, BUYER)
    assert mail.kind == "bulk_codes" and mail.code_ciphertext is None  # no code rests in the outbox
    rows = _attachment(app, mail)
    assert len(rows) == 50 and len({row["Code"] for row in rows}) == 50
    assert {row["Amount"] for row in rows} == {"10.00"}
    with app.app_context():
        found = {find_card(db.session, row["Code"], services().vault, services().qr).id for row in rows}
        assert found == {card.id for card in cards}
        assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 1  # one e-mail, not fifty
        assert verify(db.session) == []
    assert latest_order(app).state == "fulfilled"


def test_the_buyer_emails_one_card_to_its_recipient_from_the_order_page_once(app, client, people):
    """Can one card of the order be e-mailed to a colleague, and only once, with a bad address refused?"""
    _order_fifty(client, quantity="3")
    order = latest_order(app)
    _pay(client, order)
    page = f"/shop/orders/{order.reference}"
    line_id = order.lines[1].id
    refused = submit(client, f"{page}/cards/{line_id}/email", {"recipient_email": "not an address"}, page=page)
    assert refused.status_code == 400 and mail_to(app, "not an address") == []
    sent = submit(client, f"{page}/cards/{line_id}/email", {"recipient_email": "Ben@Example.com"}, page=page)
    assert sent.status_code == 303
    [mail] = mail_to(app, "ben@example.com")
    assert mail.kind == "card_received" and mail.card_id == latest_order(app).lines[1].card_id and mail.code_ciphertext
    assert "Sent to ben@example.com" in text(client.get(page))
    again = submit(client, f"{page}/cards/{line_id}/email", {"recipient_email": "eve@example.com"}, page=page)
    assert "This card was already sent to ben@example.com" in text(again) and mail_to(app, "eve@example.com") == []
    with app.app_context():
        refund_order(db.session, payments(), db.session.get(Order, order.id), actor=SYSTEM, reason="cancelled event")
        db.session.commit()
    after = submit(client, f"{page}/cards/{order.lines[2].id}/email", {"recipient_email": "cy@example.com"}, page=page)
    assert "This order was refunded" in text(after) and mail_to(app, "cy@example.com") == []


def test_more_cards_than_an_order_may_hold_are_refused_before_payment(app, client, auth, people):
    """With a maximum of 10 cards per order, is an order of 11 refused with the reason, and nothing stored?"""
    set_limits(client, auth, people)
    refused = _order_fifty(client, quantity="11")
    assert refused.status_code == 400 and "An order holds at most 10 cards" in text(refused)
    assert "whole number" in text(_order_fifty(client, quantity="lots"))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0
        assert db.session.scalar(sa.select(sa.func.count(GiftCard.id))) == 0
