"""Buying a gift card in the shop with the test provider: a card only on a verified, paid webhook, once."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.ledger.verify import verify
from portal.models import Account, OutboxMessage, Transaction, utcnow
from portal.models.orders import Order
from portal.orders.payment import expire_unpaid
from portal.payments import EXPIRED, FAILED, PAID
from tests.conftest import submit
from tests.factories import pay_at_till
from tests.pages import text
from tests.reads import snapshot
from tests.shop import all_cards, buy, deliver, latest_order, mail_to, webhook


def test_the_home_page_links_to_the_shop(client):
    """Can a visitor find the shop from the front page?"""
    assert 'href="/shop"' in client.get("/").get_data(as_text=True)


def test_a_guest_buys_a_card_for_a_friend_who_gets_its_code_and_spends_it(app, client, people):
    """Does a guest's paid order e-mail the friend a working card with the message, funded from clearing?"""
    placed = buy(client)
    assert placed.status_code == 303
    order = latest_order(app)
    assert placed.headers["Location"].endswith(f"/shop/pay/{order.reference}")
    assert order.state == "pending" and order.total == 2500 and all_cards(app) == []

    page = client.get(f"/shop/pay/{order.reference}")
    assert "Pay 25.00" in text(page)
    paid = submit(client, f"/shop/pay/{order.reference}", {"action": "pay"}, page=f"/shop/pay/{order.reference}")
    assert paid.status_code == 303
    assert "Paid, thank you" in text(client.get(paid.headers["Location"]))

    [card] = all_cards(app)
    assert latest_order(app).state == "fulfilled"
    [mail] = mail_to(app, "fran@example.com")
    assert mail.kind == "card_received" and mail.code_ciphertext and mail.context["memo"] == "Happy birthday!"
    with app.app_context():
        from portal.notifications.rendering import render

        rendered = render(db.session, db.session.get(OutboxMessage, mail.id)).text
        clearing = db.session.scalar(sa.select(Account.balance).where(Account.key == "system:payments_clearing:USD"))
        assert clearing == -2500
        assert verify(db.session) == []
    assert re.search(r"GC-[0-9A-Z-]+", rendered)
    pay_at_till(app, card.id, "10.00")  # the card works at a till


def test_a_declined_payment_issues_nothing(app, client, people):
    """Does a declined payment leave the order pending, with no card and no money moved?"""
    buy(client)
    order = latest_order(app)
    before = snapshot(app)
    answer = submit(client, f"/shop/pay/{order.reference}", {"action": "decline"}, page=f"/shop/pay/{order.reference}")
    assert "declined" in text(client.get(answer.headers["Location"]))
    assert snapshot(app) == before and latest_order(app).state == "pending"


def test_the_same_webhook_three_times_and_out_of_order_issues_one_card(app, client, people):
    """Do three deliveries of "paid", with "failed" and "abandoned" around them, issue exactly one card?"""
    buy(client)
    order = latest_order(app)
    paid = webhook(app, order, PAID)
    failed, abandoned = webhook(app, order, FAILED), webhook(app, order, EXPIRED)
    answers = [deliver(client, *event).get_json()["received"] for event in (paid, failed, paid, abandoned, paid)]
    assert answers == ["issued", "declined", "already", "already", "already"]
    assert len(all_cards(app)) == 1 and latest_order(app).state == "fulfilled"
    assert len(mail_to(app, "fran@example.com")) == 1
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Transaction.id))) == 1


def test_a_payment_confirmed_after_the_order_expired_still_issues_its_card(app, client, people):
    """Money taken is never lost: does a late "paid" for an expired order still issue the card?"""
    buy(client)
    order = latest_order(app)
    with app.app_context():
        assert expire_unpaid(db.session, utcnow() + timedelta(hours=25)) == 1
        db.session.commit()
    assert latest_order(app).state == "expired"
    assert deliver(client, *webhook(app, order, PAID)).get_json()["received"] == "issued"
    assert len(all_cards(app)) == 1


def test_a_webhook_with_a_bad_signature_or_another_amount_issues_nothing(app, client, people):
    """Is a forged webhook refused, and one reporting a smaller payment ignored?"""
    buy(client)
    order = latest_order(app)
    body, headers = webhook(app, order, PAID)
    forged = json.dumps({**json.loads(body), "id": "evt_forged"}).encode()
    assert deliver(client, forged, headers).status_code == 400
    assert deliver(client, body, {"Content-Type": "application/json"}).status_code == 400
    assert deliver(client, *webhook(app, order, PAID, amount=100)).get_json()["received"] == "mismatch"
    assert all_cards(app) == [] and latest_order(app).state == "pending"


def test_the_browser_coming_back_issues_nothing(app, client, people):
    """Does loading the return URL without a webhook issue a card? (It must not.)"""
    buy(client)
    order = latest_order(app)
    assert "waiting for the payment" in text(client.get(f"/shop/orders/{order.reference}?outcome=pay"))
    assert all_cards(app) == []


def test_bad_input_is_refused_with_its_reason_and_stores_nothing(app, client, people):
    """Does each bad field say what is wrong, and leave no order behind?"""
    cases = [
        ({"amount": "other", "custom_amount": "1.00"}, "Choose an amount from 5.00 USD to 500.00 USD"),
        ({"amount": "other", "custom_amount": "abc"}, "The amount must be a number"),
        ({"recipient_email": "not-an-address"}, "Enter an e-mail address"),
        ({"buyer_email": ""}, "Enter an e-mail address"),
        ({"design": "skulls"}, "Choose one of the card designs"),
        ({"deliver_on": "2001-01-01"}, "Choose a delivery date from today on"),
        ({"deliver_on": (utcnow() + timedelta(days=400)).date().isoformat()}, "within a year"),
        ({"message": "x" * 501}, "Keep the message to 500 characters"),
    ]
    for changes, reason in cases:
        answer = buy(client, **changes)
        assert answer.status_code == 400 and reason in text(answer), (changes, text(answer)[:400])
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0


def test_a_signed_in_customer_buying_for_themselves_gets_the_card_in_their_wallet(app, client, auth, people):
    """Is a card a signed-in customer buys for themselves theirs, with no code e-mailed?"""
    auth.login(people["customer"])
    buy(client, **{"for": "me", "buyer_email": "someone-else@example.com"})
    order = latest_order(app)
    assert order.buyer_email == people["customer"] and order.buyer_id is not None
    submit(client, f"/shop/pay/{order.reference}", {"action": "pay"}, page=f"/shop/pay/{order.reference}")
    [card] = all_cards(app)
    assert card.owner_id == order.buyer_id
    [mail] = mail_to(app, people["customer"])
    assert mail.code_ciphertext is None  # the owner sees the code in the wallet


def test_production_refuses_the_test_provider(monkeypatch):
    """Would a production portal start with the pretend payment provider? (It must not.)"""
    import pytest

    from portal import config

    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.delenv("PAYMENT_PROVIDER", raising=False)
    with pytest.raises(RuntimeError, match="PAYMENT_PROVIDER"):
        config.from_environment()


def test_wallet_orders_lists_the_customers_own_orders_only(app, client, auth, people):
    """Does Wallet → Orders show what the customer bought, and nobody else's orders?"""
    buy(client)  # a guest's order
    auth.login(people["customer"])
    assert "Orders" in text(client.get("/wallet/"))
    assert "not bought anything" in text(client.get("/wallet/orders"))
    buy(client, amount="50.00")
    order = latest_order(app)
    submit(client, f"/shop/pay/{order.reference}", {"action": "pay"}, page=f"/shop/pay/{order.reference}")
    words = text(client.get("/wallet/orders"))
    assert "50.00 USD Birthday for Fran" in words and "Fulfilled" in words
    assert "25.00" not in words


def test_a_gift_for_a_later_date_is_sent_on_that_day_once_and_the_buyer_told(app, client, people):
    """Paid today for tomorrow: nothing goes out today; tomorrow's sweep sends the friend the code and
    tells the buyer; a second sweep sends nothing more."""
    from portal.jobs.sweeps import run_orders

    tomorrow = utcnow() + timedelta(days=1)
    buy(client, deliver_on=tomorrow.date().isoformat())
    order = latest_order(app)
    submit(client, f"/shop/pay/{order.reference}", {"action": "pay"}, page=f"/shop/pay/{order.reference}")
    assert len(all_cards(app)) == 1 and latest_order(app).state == "paid"
    with app.app_context():
        assert run_orders(utcnow())["delivered"] == 0
    assert mail_to(app, "fran@example.com") == []
    assert f"On {tomorrow.date().isoformat()}" in text(client.get(f"/shop/orders/{order.reference}"))
    with app.app_context():
        assert run_orders(tomorrow)["delivered"] == 1
        assert run_orders(tomorrow)["delivered"] == 0
    [gift] = mail_to(app, "fran@example.com")
    assert gift.code_ciphertext and gift.context["memo"] == "Happy birthday!"
    [told] = mail_to(app, "guest@example.com")
    assert told.kind == "gift_delivered" and told.context["to_name"] == "Fran"
    with app.app_context():
        from portal.notifications.rendering import render

        assert "gift card you bought for \"Fran\" was e-mailed" in render(db.session, db.session.get(OutboxMessage, told.id)).text
    assert latest_order(app).state == "fulfilled"


def test_orders_are_rate_limited_per_buyer_and_a_refused_form_does_not_count(app, client, people):
    """Past the limit of orders per e-mail, is the next refused with 429 and a wait, before any order?"""
    from portal.shop import purchase_throttle

    with app.app_context():
        purchase_throttle().limit = 2
    assert buy(client, design="skulls").status_code == 400  # refused: not counted
    assert buy(client).status_code == 303 and buy(client).status_code == 303
    refused = buy(client)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Too many orders. Please wait" in text(refused)
    assert buy(client, buyer_email="other@example.com").status_code == 303  # another buyer may
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 3


def test_the_shop_sells_in_the_currency_shop_currency_names(app, client, people):
    """With SHOP_CURRENCY=JPY (no minor digits), are the amounts offered in yen and the order placed in yen?"""
    app.config["SHOP_CURRENCY"] = "JPY"
    page = client.get("/shop").get_data(as_text=True)
    assert 'value="2500" checked' in page and "2,500 JPY" in page
    assert buy(client, amount="2500").status_code == 303
    order = latest_order(app)
    assert (order.currency, order.total) == ("JPY", 2500)
