"""Strict input (issue 23): a body field or query parameter the API document does not declare is
refused with 422 ``validation_error`` naming it, and changes nothing; one test per resource group."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models.gifts import GiftSubscription
from tests.api import state
from tests.factories import make_card
from tests.gifts import BUYER, FRIEND, TO_FRIEND
from tests.reads import wallet_of


def refused(response, field: str, pointer: str | None = None) -> None:
    assert response.status_code == 422, response.json
    assert response.json["code"] == "validation_error" and response.json["field"] == field
    assert field in response.json["detail"]
    assert response.json.get("pointer") == pointer


def gifts(app) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count(GiftSubscription.id)))


def test_a_misspelt_recipient_is_refused_not_made_into_an_open_gift(app, gift_contract):
    """recipient_id for recipient_email was ignored and made a gift anyone holding its code could redeem."""
    body = {**{k: v for k, v in TO_FRIEND.items() if k != "recipient_email"}, "recipient_id": FRIEND}
    refused(gift_contract.call("POST", "/gifts/purchase", body, role="customer"), "recipient_id", "/recipient_id")
    assert gifts(app) == 0 and wallet_of(app, BUYER) == 2000


@pytest.mark.parametrize("method, template, body, role", [
    ("POST", "/gifts/redeem", {"gift_code": "GIFT-7K2M-Q9PD-4X1T-C8VN", "gift": True}, "customer"),
    ("POST", "/gifts/{gift_id}/send", {"to": "friend@example.com"}, "customer"),
    ("GET", "/gifts/sent", None, "customer"),
])
def test_gifts_refuse_what_they_do_not_take(app, gift_contract, method, template, body, role):
    extra = "gift" if template == "/gifts/redeem" else "to"
    before = state(app), gifts(app)
    if method == "GET":
        refused(gift_contract.call(method, template, role=role, query={"page": "2"}), "page")
    else:
        refused(gift_contract.call(method, template, body, role=role, gift_id=1), extra, f"/{extra}")
    assert (state(app), gifts(app)) == before


def test_cards_refuse_an_unknown_field_and_change_nothing(app, gift_contract):
    code = make_card(app, "25.00")
    before = state(app)
    refused(gift_contract.call("POST", "/cards/redeem", {"code": code, "amount": "5.00", "amout": "20.00"}), "amout",
            "/amout")
    refused(gift_contract.call("POST", "/cards/lookup", {"code": code, "pin": "1234"}), "pin", "/pin")
    refused(gift_contract.call("POST", "/cards", {"amount": "5.00", "currency": "USD", "owner": "x@example.com"},
                          role="admin"), "owner", "/owner")
    assert state(app) == before


def test_coupons_refuse_an_unknown_field(app, gift_contract):
    refused(gift_contract.call("POST", "/coupons/validate", {"code": "SAVE15", "order_total": "10.00", "total": "9"}),
            "total", "/total")
    refused(gift_contract.call("POST", "/coupons", {"code": "NEW10", "discount_type": "percent", "discount_value": "10",
                                               "max_uses": 5, "percent": 10}, role="admin"), "percent", "/percent")
    assert gift_contract.call("GET", "/coupons/{coupon_id}", role="admin", coupon_id=1).status_code == 404


def test_me_refuses_an_unknown_field_or_query(app, gift_contract):
    before = state(app)
    refused(gift_contract.call("POST", "/me/redeem", {"code": "SPRING5", "pin": "0000"}, role="customer"), "pin", "/pin")
    refused(gift_contract.call("POST", "/me/points/convert", {"amount": "1.00", "loops": 100}, role="customer"),
            "loops", "/loops")
    refused(gift_contract.call("GET", "/me/transactions", role="customer", query={"page": "2"}), "page")
    assert state(app) == before


def test_checkout_refuses_an_unknown_field_inside_a_tender(app, gift_contract):
    code = make_card(app, "25.00")
    before = state(app)
    body = {"total": "5.00", "tenders": [{"type": "card", "code": code, "amount": "5.00", "colour": "red"}]}
    refused(gift_contract.call("POST", "/checkout", body), "colour", "/tenders/0/colour")
    assert state(app) == before


def test_events_refuse_an_unknown_query_parameter(gift_contract):
    refused(gift_contract.call("GET", "/events", role="admin", query={"since": "2026-01-01"}), "since")
    assert gift_contract.call("GET", "/events", role="admin", query={"limit": "1"}).status_code == 200


def test_the_document_refuses_an_unknown_query_parameter(client):
    refused(client.get("/api/v1/openapi.json?colour=red"), "colour")
    refused(client.get("/api/v1/docs?colour=red"), "colour")
