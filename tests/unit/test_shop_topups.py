"""Topping up one's own card or wallet credit by paying with a card: through an order and the
test provider, the value moved once on the confirmed webhook, the limits refused before payment."""

from __future__ import annotations

import sqlalchemy as sa

from portal.extensions import db
from portal.ledger import SYSTEM
from portal.ledger.verify import verify
from portal.models import Account, GiftCard, Transaction
from portal.models.orders import Order
from portal.orders.refunds import refund_order
from portal.payments import PAID
from portal.shop import payments
from tests.conftest import PASSWORD, submit
from tests.factories import add_customer, freeze_card, issue, pay_at_till, user
from tests.pages import text
from tests.reads import card_balance, snapshot
from tests.shop import deliver, latest_order, set_limits, webhook

CARA = "customer@example.com"


def _pay(client, order: Order):
    page = f"/shop/pay/{order.reference}"
    return submit(client, page, {"action": "pay"}, page=page)


def _wallet(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Account.balance).where(Account.key == f"wallet:{user(email).id}:USD")) or 0


def _orders(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(Order.id)))


def test_a_customer_tops_up_their_card_by_card_once_however_often_the_webhook_comes(app, client, auth, people):
    """From the card page, does paying 20.00 add 20.00 to the card once, funded from payments clearing?"""
    card_id, _ = issue(app, owner=CARA, amount="25.00")
    auth.login(CARA)
    assert f'href="/wallet/cards/{card_id}/topup/pay"' in client.get(f"/wallet/cards/{card_id}").get_data(as_text=True)
    placed = submit(client, f"/wallet/cards/{card_id}/topup/pay", {"amount": "20.00"})
    order = latest_order(app)
    assert placed.status_code == 303 and placed.headers["Location"].endswith(f"/shop/pay/{order.reference}")
    assert card_balance(app, card_id) == 2500  # nothing before the payment is confirmed
    paid = _pay(client, order)  # the test provider delivers the paid webhook twice
    assert "The value has been added" in text(client.get(paid.headers["Location"]))
    assert deliver(client, *webhook(app, order, PAID)).get_json()["received"] == "already"
    assert card_balance(app, card_id) == 4500
    assert "45.00" in text(client.get(f"/wallet/cards/{card_id}"))
    with app.app_context():
        loads = db.session.scalars(sa.select(Transaction).where(Transaction.kind == "load")).all()
        assert len(loads) == 1 and loads[0].card_id == card_id
        clearing = db.session.scalar(sa.select(Account.balance).where(Account.key == "system:payments_clearing:USD"))
        assert clearing == -2000 and verify(db.session) == []
    assert latest_order(app).state == "fulfilled"


def test_a_customer_adds_wallet_credit_by_card_from_the_wallet_page(app, client, auth, people):
    """From the wallet, does paying 30.00 put 30.00 of credit in the customer's wallet?"""
    auth.login(CARA)
    assert 'href="/wallet/topup"' in client.get("/wallet/").get_data(as_text=True)
    assert submit(client, "/wallet/topup", {"amount": "30.00"}).status_code == 303
    _pay(client, latest_order(app))
    assert _wallet(app, CARA) == 3000
    assert "30.00" in text(client.get("/wallet/"))


def test_a_top_up_past_the_maximum_balance_or_the_day_is_refused_before_payment(app, client, auth, people):
    """Is a top-up taking a 140.00 card past 150.00 refused with what it can still take, and one past
    the daily maximum with what is left, and no order made?"""
    set_limits(client, auth, people)
    card_id, _ = issue(app, owner=CARA, amount="140.00")
    auth.login(CARA)
    refused = submit(client, f"/wallet/cards/{card_id}/topup/pay", {"amount": "20.00"})
    assert refused.status_code == 422
    assert "A gift card may hold at most 150.00 USD: this one can take 10.00 USD more" in text(refused)
    assert "Choose an amount from 5.00 USD to 100.00 USD" in text(submit(client, "/wallet/topup", {"amount": "1.00"}))
    assert submit(client, "/wallet/topup", {"amount": "100.00"}).status_code == 303
    over = submit(client, "/wallet/topup", {"amount": "30.00"})
    assert "You can buy at most 120.00 USD a day (20.00 USD left today)" in text(over)
    assert _orders(app) == 1


def test_nobody_tops_up_another_customers_card(app, client, auth, people):
    """Is another customer's card as missing as one that never was, and nothing ordered?"""
    add_customer(app, "dan@example.com")
    card_id, _ = issue(app, owner="dan@example.com")
    auth.login(CARA, PASSWORD)
    assert client.get(f"/wallet/cards/{card_id}/topup/pay").status_code == 404
    assert submit(client, f"/wallet/cards/{card_id}/topup/pay", {"amount": "20.00"}, page="/wallet/").status_code == 404
    assert _orders(app) == 0


def test_a_card_frozen_before_its_top_up_is_paid_is_refunded_not_loaded(app, client, auth, people):
    """If the card is frozen between the order and its payment, is the payment refunded and the card unchanged?"""
    card_id, _ = issue(app, owner=CARA, amount="25.00")
    auth.login(CARA)
    submit(client, f"/wallet/cards/{card_id}/topup/pay", {"amount": "20.00"})
    order = latest_order(app)
    freeze_card(app, card_id)
    before = snapshot(app)
    assert deliver(client, *webhook(app, order, PAID)).get_json()["received"] == "refunded"
    assert card_balance(app, card_id) == 2500 and latest_order(app).state == "refunded"
    assert snapshot(app)["cards"] == before["cards"]


def test_refunding_a_card_top_up_takes_back_only_what_is_left_and_keeps_the_card(app, client, auth, people):
    """After a 20.00 top-up of a 25.00 card and 30.00 spent, does a refund give back 15.00 and leave the card active?"""
    card_id, _ = issue(app, owner=CARA, amount="25.00")
    auth.login(CARA)
    submit(client, f"/wallet/cards/{card_id}/topup/pay", {"amount": "20.00"})
    _pay(client, latest_order(app))
    pay_at_till(app, card_id, "30.00")
    with app.app_context():
        order = db.session.get(Order, latest_order(app).id)
        refund = refund_order(db.session, payments(), order, actor=SYSTEM, reason="customer asked")
        db.session.commit()
        assert refund.describe() == "Refunded 15.00 USD; 5.00 USD had already been spent and stays paid"
        assert db.session.get(GiftCard, card_id).status == "active"
        assert verify(db.session) == []
    assert card_balance(app, card_id) == 0
