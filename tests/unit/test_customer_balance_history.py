"""The history of wallet credit and of Loops, beside each card's (issue 26), and "0.00" with its currency."""

from __future__ import annotations

import sqlalchemy as sa

from portal.extensions import db
from portal.ledger import SYSTEM
from portal.loyalty.points import earn
from portal.models import Merchant
from portal.money import Money
from tests.conftest import submit
from tests.factories import add_credit, new_key, user
from tests.pages import text


def earn_at_the_cafe(app, email: str, spent: str) -> None:
    with app.app_context():
        cafe = db.session.scalar(sa.select(Merchant).where(Merchant.slug == "corner-cafe"))
        earn(db.session, user(email), Money.parse(spent, "USD"), cafe, actor=SYSTEM, idempotency_key=new_key())
        db.session.commit()


def test_the_history_shows_loops_earned_and_converted_and_credit_received(app, client, cara):
    """Earn Loops at the café, turn 500 into a card, receive 5.00 credit: does the history say each?"""
    earn_at_the_cafe(app, cara, "60.00")
    add_credit(app, cara, "5.00")
    response = submit(client, "/wallet/loops/convert", {"amount": "5.00", "merchant": "", "currency": "USD",
                                                          "idempotency_key": new_key()})
    assert response.status_code in (200, 303)
    words = text(client.get("/wallet/history"))
    credit, loops = words.split("Wallet credit (USD)", 1)[1].split("Loops", 1)
    assert "Credit code +5.00 USD" in credit
    assert "Turned into a gift card -500 Loops" in loops
    assert "Earned at Corner Café +600 Loops" in loops


def test_the_wallet_links_to_each_history(client, cara):
    """Does the wallet page lead to the history of credit and of Loops?"""
    html = client.get("/wallet/").get_data(as_text=True)
    assert 'href="/wallet/history#credit"' in html and 'href="/wallet/history#loops"' in html


def test_a_new_customer_sees_no_credit_with_its_currency(client, cara):
    """A new customer has no credit: does the wallet say "0.00 USD", not a bare "0.00"?"""
    words = text(client.get("/wallet/"))
    assert "Wallet credit 0.00 USD" in words
    assert "nothing has happened" not in text(client.get("/wallet/history")).lower()
    assert "No wallet credit or Loops yet" in text(client.get("/wallet/history"))
