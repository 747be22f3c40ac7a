"""Shop orders through the API (issue 25): placed with an Idempotency-Key, paid only on the provider's webhook,
read back by their buyer (or an admin), refused over a programme limit with nothing stored; each answer
validated against the served OpenAPI document."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from portal.extensions import db
from portal.ledger import verify
from portal.models.orders import Order
from portal.services import services
from tests.api_contract import pointer
from tests.reads import rows, snapshot
from tests.shop import all_cards, deliver, mail_to, webhook

ORDER_PATHS = ("/orders", "/orders/{order_id}")
FOR_FRAN = {"amount": "25.00", "design": "birthday", "recipient_email": "fran@example.com",
            "recipient_name": "Fran", "message": "Happy birthday!"}


def place(c, body=None, role="customer", key=None):
    return c.call("POST", "/orders", body or {"lines": [FOR_FRAN]}, role=role, key=key)


def placed(c, body=None, role="customer") -> dict:
    response = place(c, body, role)
    assert response.status_code == 201, response.json
    return response.json


def order_row(app, order_id: int) -> Order:
    return next(order for order in rows(app, Order) if order.id == order_id)


def pay(app, client, order_id: int):
    """The test provider's signed webhook saying the order was paid, as the provider sends it."""
    answer = deliver(client, *webhook(app, order_row(app, order_id), "paid"))
    assert answer.status_code == 200, answer.json


def nothing_stored(app, before):
    assert rows(app, Order) == [] and snapshot(app) == before


def test_an_order_placed_through_the_api_issues_its_card_only_on_the_providers_webhook(app, contract):
    """Pending with a hosted checkout; no card until the webhook; then fulfilled, the code e-mailed, not answered."""
    c = contract
    order = placed(c)
    assert (order["state"], order["total"], order["currency"], order["buyer_email"]) == (
        "pending", "25.00", "USD", "customer@example.com")
    assert order["checkout_url"] == f"http://localhost/shop/pay/{order['reference']}"
    assert [(line["recipient_email"], line["card_id"]) for line in order["lines"]] == [("fran@example.com", None)]
    assert all_cards(app) == [] and mail_to(app, "fran@example.com") == []
    pay(app, c.client, order["id"])
    shown = c.call("GET", "/orders/{order_id}", role="customer", order_id=order["id"])
    assert shown.json["state"] == "fulfilled" and shown.json["paid_at"] and "checkout_url" not in shown.json
    (card,) = all_cards(app)
    assert shown.json["lines"][0]["card_id"] == card.id and shown.json["lines"][0]["delivered_at"]
    with app.app_context():
        code = services().vault.decrypt(card.code.ciphertext)
    assert code not in shown.get_data(as_text=True)
    assert [m.kind for m in mail_to(app, "fran@example.com")] == ["card_received"]
    listed = c.call("GET", "/orders", role="customer").json
    assert [o["id"] for o in listed["orders"]] == [order["id"]] and listed["next_cursor"] is None
    with app.app_context():
        assert verify(db.session) == []


def test_a_card_for_a_later_day_waits_paid_and_a_bulk_order_is_one_order(app, contract):
    c = contract
    day = (date.today() + timedelta(days=30)).isoformat()
    later = placed(c, {"lines": [{**FOR_FRAN, "deliver_on": day}]})
    assert later["lines"][0]["deliver_on"] == day
    pay(app, c.client, later["id"])
    shown = c.call("GET", "/orders/{order_id}", role="customer", order_id=later["id"]).json
    assert shown["state"] == "paid" and shown["lines"][0]["card_id"] and shown["lines"][0]["delivered_at"] is None
    assert mail_to(app, "fran@example.com") == []
    bulk = placed(c, {"bulk": {"quantity": 3, "amount": 10}})
    assert (bulk["bulk"], bulk["total"], len(bulk["lines"])) == (True, "30.00", 3)
    assert [line["recipient_email"] for line in bulk["lines"]] == [None] * 3


@pytest.mark.parametrize("body, where, said", [
    ({"lines": [{**FOR_FRAN, "deliver_on": "2099-01-01"}]}, pointer("lines", "0", "deliver_on"),
     "Choose a delivery date within a year"),
    ({"lines": [FOR_FRAN, {"amount": "25.00", "recipient_name": "Fran"}]}, pointer("lines", "1", "recipient_email"),
     "Give your friend's e-mail address"),
    ({"lines": [{"amount": "25.00", "deliver_on": 20270501}]}, pointer("lines", "0", "deliver_on"),
     'Give a date as text, like "2027-05-01"'),
    ({"lines": [FOR_FRAN], "bulk": {"quantity": 2, "amount": "10.00"}}, None, "Give the cards as lines or as bulk"),
    ({"lines": [FOR_FRAN], "buyer_email": "someone@example.com"}, None, "billed to their own address"),
])
def test_a_bad_order_is_refused_naming_its_field_and_nothing_is_stored(app, contract, body, where, said):
    before = snapshot(app)
    refused = place(contract, body)
    assert (refused.status_code, refused.json["code"]) == (422, "validation_error")
    assert said in refused.json["detail"] and refused.json.get("pointer") == where
    nothing_stored(app, before)


def test_an_unknown_field_is_refused_with_its_pointer_and_nothing_is_stored(app, contract):
    before = snapshot(app)
    refused = place(contract, {"lines": [{**FOR_FRAN, "colour": "red"}]})
    assert (refused.status_code, refused.json["field"], refused.json["pointer"]) == (422, "colour", "/lines/0/colour")
    assert refused.json["detail"] == "Unknown field colour"
    nothing_stored(app, before)


@pytest.mark.parametrize("body, where, said", [
    ({"lines": [{"amount": "2000.00"}]}, "/lines/0/amount", "A gift card may hold at most 1,000.00 USD"),
    ({"lines": [{"amount": "1.00"}]}, "/lines/0/amount", "Choose an amount from 5.00 USD to 500.00 USD"),
    ({"bulk": {"quantity": 51, "amount": "10.00"}}, "/bulk/quantity", "An order holds at most 50 cards"),
    ({"lines": [{"amount": "10.00"}] * 51}, "/lines", "An order holds at most 50 cards"),
])
def test_an_order_over_a_programme_limit_is_refused_before_payment_with_the_reason(app, contract, body, where, said):
    before = snapshot(app)
    refused = place(contract, body)
    assert (refused.status_code, refused.json["code"], refused.json["pointer"]) == (422, "validation_error", where)
    assert said in refused.json["detail"]
    nothing_stored(app, before)


def test_the_buyers_day_counts_orders_waiting_for_payment(app, contract):
    """Two pending orders of 500.00 fill the day's 1,000.00: a third is refused, saying what is left."""
    placed(contract, {"lines": [{"amount": "500.00"}]})
    placed(contract, {"lines": [{"amount": "500.00"}]})
    refused = place(contract, {"lines": [{"amount": "10.00"}]})
    assert refused.status_code == 422 and refused.json["pointer"] == "/lines"
    assert "You can buy at most 1,000.00 USD a day (0.00 USD left today)" in refused.json["detail"]
    assert len(rows(app, Order)) == 2


def test_the_same_idempotency_key_places_one_order(app, contract, monkeypatch):
    c = contract
    first = c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/orders", {"lines": [FOR_FRAN]}, {"lines": [{**FOR_FRAN, "amount": "30.00"}]}, "customer", monkeypatch,
    )
    assert first.status_code == 201 and [o.id for o in rows(app, Order)] == [first.json["id"]]
    key = str(uuid.uuid4())
    once, twice = place(c, key=key), place(c, key=key)
    assert once.json == twice.json and twice.headers["Idempotent-Replayed"] == "true"
    assert len(rows(app, Order)) == 2


def test_another_customers_order_is_not_found_and_an_admin_sees_every_order(app, contract, capi):
    c = contract
    mine = placed(c)
    stranger = c.call("GET", "/orders/{order_id}", role="stranger", order_id=mine["id"])
    missing = c.call("GET", "/orders/{order_id}", role="stranger", order_id=mine["id"] + 1000)
    assert (stranger.status_code, stranger.json) == (missing.status_code, missing.json)
    assert stranger.status_code == 404 and stranger.json["code"] == "not_found"
    assert c.call("GET", "/orders", role="stranger").json["orders"] == []
    # An admin places an order for a guest's address (a shop of its own) and reads every order.
    for_guest = placed(c, {"lines": [{"amount": "10.00"}], "buyer_email": "Guest@Example.com"}, role="admin")
    assert for_guest["buyer_email"] == "guest@example.com"
    assert c.call("POST", "/orders", {"lines": [{"amount": "10.00"}]}, role="admin").json["field"] == "buyer_email"
    every = c.call("GET", "/orders", role="admin", query={"limit": 1})
    assert [o["id"] for o in every.json["orders"]] == [for_guest["id"]] and every.json["next_cursor"]
    rest = c.call("GET", "/orders", role="admin", query={"limit": 1, "cursor": every.json["next_cursor"]})
    assert [o["id"] for o in rest.json["orders"]] == [mine["id"]]
    assert c.call("GET", "/orders/{order_id}", role="admin", order_id=mine["id"]).status_code == 200
    assert c.call("GET", "/orders", role="merchant").json["code"] == "forbidden"
    assert place(c, role="merchant").json["code"] == "forbidden"
    assert c.call("GET", "/orders", role=None).status_code == 401


def test_every_documented_answer_of_the_orders_api_is_given(app, contract, monkeypatch):
    """The document's statuses and codes for /orders, each provoked (and checked against the document) once."""
    c = contract
    order = placed(c)
    c.call("GET", "/orders/{order_id}", role="customer", order_id=order["id"])
    c.call("GET", "/orders/{order_id}", role="customer", order_id=order["id"] + 1)
    c.call("GET", "/orders", role="customer")
    for role in ("merchant", None):
        c.call("POST", "/orders", {"lines": [FOR_FRAN]}, role=role)
        c.call("GET", "/orders", role=role)
        c.call("GET", "/orders/{order_id}", role=role, order_id=order["id"])
    place(c, {"lines": [{"amount": "x"}]})
    c.call("GET", "/orders", role="customer", query={"cursor": "nope"})
    c.call("GET", "/orders/{order_id}", role="customer", order_id=order["id"], query={"limit": 1})
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/orders", {"lines": [FOR_FRAN]}, {"lines": [{"amount": "30.00"}]}, "customer", monkeypatch,
    )
    c.past_the_rate_limit(*ORDER_PATHS)
    c.with_a_nul_character(*ORDER_PATHS)
    c.with_an_unknown_query_parameter(*ORDER_PATHS)
    assert c.documented(*ORDER_PATHS) - c.seen == set()
    assert c.documented_codes(*ORDER_PATHS) - c.answered == set(), "a documented code no test provoked"


@pytest.mark.app_config(WEBHOOK_ALLOW_PRIVATE_URLS=True, WEBHOOK_TIMEOUT_SECONDS=2)
def test_order_paid_and_refunded_reach_an_admins_webhook_endpoint(app, contract, receiver):
    """Does a program that placed an order through the API hear of its payment and refund, without codes?"""
    from portal.events import endpoints
    from portal.ledger import Actor
    from portal.orders.refunds import refund_order
    from portal.shop import payments
    from tests.factories import user

    hook = receiver()
    with app.app_context():
        admin = user("admin@example.com")
        endpoints.create_endpoint(db.session, services().vault, url=hook.url, merchant_id=None,
                                  event_types=["order.paid", "order.refunded"], actor=Actor(user_id=admin.id),
                                  allow_private=True)
        db.session.commit()
    order = placed(contract)
    pay(app, contract.client, order["id"])
    with app.test_request_context():
        refund_order(db.session, payments(), db.session.get(Order, order["id"]),
                     actor=Actor(user_id=user("admin@example.com").id), reason="Buyer asked")
        db.session.commit()
    bodies = hook.bodies()
    assert [(b["type"], b["data"]["order_id"]) for b in bodies] == [
        ("order.paid", order["id"]), ("order.refunded", order["id"])]
    assert bodies[1]["data"]["refunded"] == "25.00" and "@" not in str([b["data"] for b in bodies])
    assert contract.call("GET", "/orders/{order_id}", role="customer", order_id=order["id"]).json["state"] == "refunded"


@pytest.mark.app_config(SHOP_PURCHASE_LIMIT=2)
def test_orders_placed_through_the_api_count_toward_the_buyers_purchase_limit(app, contract):
    """As in the web shop: past the buyer's limit of orders an hour, 429 with Retry-After; a refused order is free."""
    place(contract, {"lines": [{"amount": "1.00"}]})
    placed(contract)
    placed(contract)
    refused = place(contract)
    assert (refused.status_code, refused.json["code"]) == (429, "rate_limited")
    assert int(refused.headers["Retry-After"]) > 0 and len(rows(app, Order)) == 2
