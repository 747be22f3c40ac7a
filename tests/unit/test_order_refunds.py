"""Refunding a shop order: an unspent card's value goes back and the card is cancelled; a partly
spent card refunds only what is left, and the admin is told so; a second refund changes nothing."""

from __future__ import annotations

import sqlalchemy as sa

from portal.extensions import db
from portal.ledger.verify import verify
from portal.models import Account, GiftCard
from tests.conftest import submit
from tests.factories import pay_at_till
from tests.pages import text
from tests.reads import snapshot
from tests.shop import all_cards, buy, latest_order, set_limits


def _paid_order(app, client):
    buy(client)
    order = latest_order(app)
    submit(client, f"/shop/pay/{order.reference}", {"action": "pay"}, page=f"/shop/pay/{order.reference}")
    return latest_order(app)


def _refund(client, order, reason="Buyer asked"):
    return submit(client, f"/admin/orders/{order.id}/refund", {"reason": reason}, page="/admin/orders",
                  follow_redirects=True)


def _clearing(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Account.balance).where(Account.key == "system:payments_clearing:USD"))


def test_an_unspent_card_is_refunded_in_full_and_cancelled_once(app, client, auth, people):
    order = _paid_order(app, client)
    auth.login(people["admin"])
    assert "Refunded 25.00 USD." in text(_refund(client, order))
    [card] = all_cards(app)
    assert card.status == "cancelled" and _clearing(app) == 0 and latest_order(app).state == "refunded"
    before = snapshot(app)
    assert "Only a paid order can be refunded, and only once" in text(_refund(client, order))
    assert snapshot(app) == before
    with app.app_context():
        assert verify(db.session) == []


def test_a_partly_spent_card_refunds_only_what_is_left_and_says_so(app, client, auth, people):
    order = _paid_order(app, client)
    [card] = all_cards(app)
    pay_at_till(app, card.id, "10.00")
    auth.login(people["admin"])
    words = text(_refund(client, order))
    assert "Refunded 15.00 USD; 10.00 USD had already been spent and stays paid." in words
    assert _clearing(app) == -1000
    with app.app_context():
        assert db.session.get(GiftCard, card.id).status == "cancelled"


def test_a_refund_needs_a_reason(app, client, auth, people):
    order = _paid_order(app, client)
    auth.login(people["admin"])
    before = snapshot(app)
    assert "Please give a reason" in text(_refund(client, order, reason=" "))
    assert snapshot(app) == before and latest_order(app).state == "fulfilled"


def test_paid_and_refunded_orders_are_events_for_webhooks(app, client, auth, people):
    """Do order.paid and order.refunded reach the event log, with no addresses or codes in them?"""
    from portal.models import Event

    order = _paid_order(app, client)
    auth.login(people["admin"])
    _refund(client, order)
    with app.app_context():
        found = db.session.scalars(sa.select(Event).where(Event.type.like("order.%")).order_by(Event.id)).all()
        assert [e.type for e in found] == ["order.paid", "order.refunded"]
        assert found[1].payload["refunded"] == "25.00" and "@" not in str([e.payload for e in found])


def test_an_order_above_the_approval_amount_waits_for_an_admin_once_paid(app, client, auth, people):
    """Paid 100.00 above a 50.00 approval amount: no card until an admin approves, then one, once."""

    set_limits(client, auth, people, approval_above="50.00")
    buy(client, amount="100.00")
    order = latest_order(app)
    submit(client, f"/shop/pay/{order.reference}", {"action": "pay"}, page=f"/shop/pay/{order.reference}")
    assert all_cards(app) == [] and latest_order(app).state == "paid"
    assert "We check large orders" in text(client.get(f"/shop/orders/{order.reference}"))
    auth.login(people["admin"])
    page = text(client.get("/admin/orders"))
    assert "waiting for approval" in page
    approved = submit(client, f"/admin/orders/{order.id}/approve", {}, page="/admin/orders", follow_redirects=True)
    assert "its cards are issued" in text(approved)
    assert len(all_cards(app)) == 1 and latest_order(app).state == "fulfilled"
    again = submit(client, f"/admin/orders/{order.id}/approve", {}, page="/admin/orders", follow_redirects=True)
    assert "only once" in text(again) and len(all_cards(app)) == 1


def test_a_paid_order_refused_approval_is_refunded_in_full(app, client, auth, people):

    set_limits(client, auth, people, approval_above="50.00")
    buy(client, amount="100.00")
    order = latest_order(app)
    submit(client, f"/shop/pay/{order.reference}", {"action": "pay"}, page=f"/shop/pay/{order.reference}")
    auth.login(people["admin"])
    assert "Refunded 100.00 USD." in text(_refund(client, order, reason="Looks like fraud"))
    assert all_cards(app) == [] and latest_order(app).state == "refunded"
