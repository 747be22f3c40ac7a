"""Gift subscriptions through the API (DESIGN §5): every endpoint and every error code, each answer
validated against the served OpenAPI document, and the gift's whole life from purchase to redemption."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.ledger import verify
from portal.models import utcnow
from portal.models.campaigns import Campaign
from tests.factories import add_credit, user
from tests.gifts import BUYER, FRIEND, TO_FRIEND, age, coupon, everything, mail, subscription_end
from tests.reads import loops_of, wallet_of

GIFT_PATHS = ("/gifts/sent", "/gifts/received", "/gifts/{gift_id}", "/gifts/purchase", "/gifts/check",
              "/gifts/redeem", "/gifts/{gift_id}/send", "/gifts/{gift_id}/cancel")
def buy(c, body=None, role="customer"):
    response = c.call("POST", "/gifts/purchase", body or TO_FRIEND, role=role)
    assert response.status_code == 201, response.json
    return response.json


def test_a_gift_lives_from_purchase_to_redemption_through_the_api(app, gift_contract):
    """Bought and paid (still created), sent by e-mail, checked and redeemed by the friend, the buyer told."""
    c = gift_contract
    bought = buy(c)
    assert (bought["status"], bought["paid"], bought["amount_paid"], bought["currency"]) == ("created", True, "4.99", "USD")
    assert bought["gift_code"].startswith("GIFT-") and bought["recipient_email"] == FRIEND
    assert wallet_of(app, BUYER) == 2000 - 499
    assert mail(app, "gift_received") == []
    sent = c.call("POST", "/gifts/{gift_id}/send", role="customer", gift_id=bought["id"]).json
    assert sent["status"] == "sent" and sent["sent_at"]
    assert [m.recipient for m in mail(app, "gift_received")] == [FRIEND]
    # The friend sees it without its code or price, checks it, and redeems it.
    received = c.call("GET", "/gifts/received", role="friend").json["gifts"]
    assert [g["id"] for g in received] == [bought["id"]]
    assert "gift_code" not in received[0] and "amount_paid" not in received[0]
    assert received[0]["message"] == "Happy birthday!" and received[0]["from"] == "Cara"
    check = c.call("POST", "/gifts/check", {"gift_code": bought["gift_code"].lower()}, role="friend").json
    assert check == {"gift_code": bought["code_masked"], "subscription_identifier": "plus", "can_redeem": True,
                     "error": None, "message": "Giftloop Plus for 30 days: ready to redeem"}
    redeemed = c.call("POST", "/gifts/redeem", {"gift_code": bought["gift_code"]}, role="friend").json
    assert redeemed["gift"]["status"] == "redeemed" and redeemed["subscription"]["feature"] == "plus"
    assert subscription_end(app, FRIEND) is not None
    assert [m.recipient for m in mail(app, "gift_redeemed")] == [BUYER]
    mine = c.call("GET", "/gifts/sent", role="customer").json["gifts"]
    assert [(g["id"], g["status"], g["gift_code"]) for g in mine] == [(bought["id"], "redeemed", bought["gift_code"])]
    plus = [e for e in c.client.get("/api/v1/me", headers={"Authorization": f"Bearer {c.tokens['friend']}"}).json.get(
        "entitlements", [{"feature": "plus"}])]
    assert any(e["feature"] == "plus" for e in plus)
    with app.app_context():
        assert verify(db.session) == []


def test_a_gift_code_redeems_through_me_redeem_too(app, gift_contract):
    c = gift_contract
    bought = buy(c, {**TO_FRIEND, "recipient_email": None, "payment_method": "loops"})
    c.call("POST", "/gifts/{gift_id}/send", role="customer", gift_id=bought["id"])
    assert loops_of(app, BUYER) == 1000 - 499
    answer = c.call("POST", "/me/redeem", {"code": bought["gift_code"]}, role="stranger").json
    assert answer["kind"] == "gift" and answer["entitlement"]["feature"] == "plus"
    assert answer["message"].startswith("Giftloop Plus is yours until ")


def test_every_gift_endpoint_and_error_answers_as_documented(app, gift_contract, monkeypatch):
    c = gift_contract
    add_credit(app, BUYER, "50.00")
    for template in GIFT_PATHS:
        for method in c.doc["paths"][template]:
            assert c.call(method.upper(), template, {}, role=None, gift_id=1, code="X").status_code == 401
            assert c.call(method.upper(), template, {}, role="merchant", gift_id=1, code="X").status_code == 403
    # Purchase: refusals first, each changing nothing.
    coupon(app, "WEBONLY", channels="web")
    coupon(app, "ONCE", max_uses="1")
    coupon(app, "MINE", uses_per_user="1")
    coupon(app, "DOLLAR", discount_type="fixed", discount_value="1.00", currency="USD")
    coupon(app, "OLD")
    with app.app_context():
        db.session.execute(sa.update(Campaign).where(Campaign.name == "Coupon OLD").values(expires_at=utcnow()))
        db.session.commit()
    before = everything(app)
    for body, expected in (
        ({**TO_FRIEND, "subscription_identifier": "gold"}, "validation_error"),
        ({**TO_FRIEND, "payment_method": "cash"}, "validation_error"),
        ({**TO_FRIEND, "recipient_email": BUYER}, "validation_error"),
        ({**TO_FRIEND, "subscription_duration_days": 3600}, "insufficient_funds"),
        ({**TO_FRIEND, "payment_method": "loops", "subscription_duration_days": 90}, "insufficient_funds"),
        ({**TO_FRIEND, "coupon": "NOSUCH"}, "not_found"),
        ({**TO_FRIEND, "coupon": "WEBONLY"}, "not_valid_here"),
        ({**TO_FRIEND, "coupon": "OLD"}, "expired"),
        ({**TO_FRIEND, "coupon": "DOLLAR", "payment_method": "loops"}, "currency_mismatch"),
        (["not", "an", "object"], "validation_error"),
    ):
        assert c.call("POST", "/gifts/purchase", body, role="customer").json["code"] == expected, body
    assert everything(app) == before
    assert buy(c, {**TO_FRIEND, "coupon": "ONCE"})["discount"] == "0.50"
    assert c.call("POST", "/gifts/purchase", {**TO_FRIEND, "coupon": "ONCE"}, role="customer").json["code"] == \
        "usage_limit_reached"
    buy(c, {**TO_FRIEND, "coupon": "MINE"})
    assert c.call("POST", "/gifts/purchase", {**TO_FRIEND, "coupon": "MINE"}, role="customer").json["code"] == \
        "already_redeemed"
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/gifts/purchase", TO_FRIEND, {**TO_FRIEND, "message": "Other"}, "customer", monkeypatch,
    )
    # Reading: lists, one gift; someone else's is not found.
    gift = buy(c)
    open_gift = buy(c, {**TO_FRIEND, "recipient_email": None})
    assert c.call("GET", "/gifts/sent", role="customer").json["gifts"][0]["id"] == open_gift["id"]
    cancelled_unsent = buy(c)
    c.call("POST", "/gifts/{gift_id}/cancel", role="customer", gift_id=cancelled_unsent["id"])
    assert c.call("GET", "/gifts/received", role="friend").json == {"gifts": [], "next_cursor": None}  # nothing sent yet
    assert c.call("GET", "/gifts/{gift_id}", role="friend", gift_id=cancelled_unsent["id"]).status_code == 404
    assert c.call("GET", "/gifts/{gift_id}", role="customer", gift_id=gift["id"]).json["gift_code"] == gift["gift_code"]
    assert c.call("GET", "/gifts/{gift_id}", role="friend", gift_id=gift["id"]).status_code == 404
    # Check and redeem before sending: not yet.
    early = c.call("POST", "/gifts/check", {"gift_code": gift["gift_code"]}, role="friend").json
    assert (early["can_redeem"], early["error"]) == (False, "validation_error")
    assert c.call("POST", "/gifts/redeem", {"gift_code": gift["gift_code"]}, role="friend").json["code"] == \
        "validation_error"
    # Send: once, by the buyer only.
    assert c.call("POST", "/gifts/{gift_id}/send", role="friend", gift_id=gift["id"]).status_code == 404
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/gifts/{gift_id}/send", None, None, "customer", monkeypatch, other_params={"gift_id": open_gift["id"]},
        gift_id=gift["id"],
    )
    assert c.call("POST", "/gifts/{gift_id}/send", role="customer", gift_id=gift["id"]).json["code"] == "validation_error"
    c.call("POST", "/gifts/{gift_id}/send", role="customer", gift_id=open_gift["id"])
    assert c.call("GET", "/gifts/{gift_id}", role="friend", gift_id=gift["id"]).json["status"] == "sent"
    # Redeem: the wrong person, a malformed code, then the friend; then again.
    assert c.call("POST", "/gifts/check", {"gift_code": gift["gift_code"]}, role="stranger").json["error"] == "forbidden"
    assert c.call("POST", "/gifts/redeem", {"gift_code": gift["gift_code"]}, role="stranger").json["code"] == "forbidden"
    assert c.call("POST", "/gifts/check", {"gift_code": "GIFT-12"}, role="friend").json["code"] == "validation_error"
    assert c.call("POST", "/gifts/redeem", {}, role="friend").json["field"] == "gift_code"
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/gifts/redeem", {"gift_code": gift["gift_code"]}, {"gift_code": open_gift["gift_code"]}, "friend",
        monkeypatch,
    )
    assert c.call("POST", "/gifts/redeem", {"gift_code": gift["gift_code"]}, role="friend").json["code"] == \
        "already_redeemed"
    # A second plus while the first runs: gifts stack, so the check says it can be redeemed, after the first.
    second = c.call("POST", "/gifts/check", {"gift_code": open_gift["gift_code"]}, role="friend").json
    assert second["can_redeem"] is True and "added after yours ends on" in second["message"]
    # Cancel: the redeemed gift no; the open one yes, refunded; then it is cancelled for everyone.
    assert c.call("POST", "/gifts/{gift_id}/cancel", role="customer", gift_id=gift["id"]).json["code"] == \
        "already_redeemed"
    assert c.call("POST", "/gifts/{gift_id}/cancel", role="stranger", gift_id=open_gift["id"]).status_code == 404
    paid_before = wallet_of(app, BUYER)
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/gifts/{gift_id}/cancel", None, None, "customer", monkeypatch, other_params={"gift_id": gift["id"]},
        gift_id=open_gift["id"],
    )
    assert wallet_of(app, BUYER) == paid_before + 499
    assert c.call("POST", "/gifts/{gift_id}/cancel", role="customer", gift_id=open_gift["id"]).json["code"] == \
        "validation_error"
    assert c.call("POST", "/gifts/{gift_id}/send", role="customer", gift_id=open_gift["id"]).json["code"] == "cancelled"
    assert c.call("POST", "/gifts/{gift_id}/send", role="customer", gift_id=gift["id"]).json["code"] == \
        "already_redeemed"
    assert c.call("POST", "/gifts/redeem", {"gift_code": open_gift["gift_code"]}, role="stranger").json["code"] == \
        "cancelled"
    # Expired before the sweep ran.
    late = buy(c)
    c.call("POST", "/gifts/{gift_id}/send", role="customer", gift_id=late["id"])
    age(app, late["id"], expired=True)
    assert c.call("POST", "/gifts/redeem", {"gift_code": late["gift_code"]}, role="friend").json["code"] == "expired"
    assert c.call("POST", "/gifts/{gift_id}/send", role="customer", gift_id=late["id"]).json["code"] == "expired"
    unknown = c.call("POST", "/gifts/redeem", {"gift_code": "GIFT-0000-0000-0000-0000"}, role="friend")
    assert (unknown.status_code, unknown.json["code"]) == (404, "not_found")
    # Unknown codes until the caller is locked out: then 429 even for a good code.
    while c.call("POST", "/gifts/check", {"gift_code": f"GIFT-{uuid.uuid4().hex[:16]}"}, role="stranger").status_code == 404:
        pass
    assert c.call("POST", "/gifts/redeem", {"gift_code": late["gift_code"]}, role="stranger").status_code == 429
    c.past_the_rate_limit(*GIFT_PATHS)
    c.with_a_nul_character(*GIFT_PATHS)
    c.with_an_unknown_query_parameter(*GIFT_PATHS)
    assert c.documented(*GIFT_PATHS) - c.seen == set()
    assert c.documented_codes(*GIFT_PATHS) - c.answered == set(), "a documented code no test provoked"
    assert {"validation_error", "not_found", "forbidden", "insufficient_funds", "not_valid_here", "currency_mismatch",
            "usage_limit_reached", "already_redeemed", "cancelled", "expired", "idempotency_conflict",
            "idempotency_in_progress", "rate_limited", "unauthorized"} <= c.codes


def test_a_gift_code_in_the_path_is_gone_and_not_echoed(gift_contract):
    """The seed's GET /gifts/check/{code} put the code in every log: 410 naming the body form instead."""
    code = "GIFT-7K2M-Q9PD-4X1T-C8VN"
    gone = gift_contract.client.get(f"/api/v1/gifts/check/{code}",
                               headers={"Authorization": f"Bearer {gift_contract.tokens['customer']}"})
    assert (gone.status_code, gone.json["code"]) == (410, "gone")
    assert "POST /api/v1/gifts/check" in gone.json["use"] and code not in gone.get_data(as_text=True)


def test_a_gift_is_redeemable_for_30_days_unless_the_buyer_says_otherwise(gift_contract):
    """The seed's default: gift_duration_days is 30 when not given."""
    from datetime import datetime

    def days_to_redeem(gift: dict) -> int:
        made, until = (datetime.fromisoformat(gift[k].replace("Z", "+00:00")) for k in ("created_at", "expires_at"))
        return round((until - made).total_seconds() / 86400)

    assert days_to_redeem(buy(gift_contract)) == 30
    assert days_to_redeem(buy(gift_contract, {**TO_FRIEND, "gift_duration_days": 90})) == 90


def test_a_gift_waiting_for_its_payment_is_not_listed_to_its_buyer(app, gift_contract):
    """A gift started on the pages but not paid for yet is no gift: not in the buyer's list until paid."""
    from portal.gifts import create_gift, pay_gift
    from portal.ledger import Actor
    from portal.services import services

    paid = buy(gift_contract)
    assert paid["paid"] is True and paid["status"] == "created"
    with app.app_context():
        unpaid, _ = create_gift(db.session, services().vault, user(BUYER), subscription_identifier="plus",
                                payment_method="wallet", recipient_email=FRIEND)
        db.session.commit()
        unpaid_id = unpaid.id
    listed = gift_contract.call("GET", "/gifts/sent", role="customer").json["gifts"]
    assert [g["id"] for g in listed] == [paid["id"]]
    with app.app_context():
        gift = db.session.get(unpaid.__class__, unpaid_id)
        pay_gift(db.session, services().vault, gift, actor=Actor(user_id=gift.buyer_id), idempotency_key="paid-later")
        db.session.commit()
    listed = gift_contract.call("GET", "/gifts/sent", role="customer").json["gifts"]
    assert [g["id"] for g in listed] == [unpaid_id, paid["id"]]


def test_redeeming_a_plan_the_customer_holds_adds_its_days_after_the_current_period(app, gift_contract):
    """An active subscription of the plan: the check says the gift's days come after it, and the
    redemption adds them there (gifts stack)."""
    first, second = buy(gift_contract), buy(gift_contract)
    for gift in (first, second):
        gift_contract.call("POST", "/gifts/{gift_id}/send", role="customer", gift_id=gift["id"])
    assert gift_contract.call("POST", "/gifts/redeem", {"gift_code": first["gift_code"]}, role="friend").status_code == 200
    ends = subscription_end(app, FRIEND)
    check = gift_contract.call("POST", "/gifts/check", {"gift_code": second["gift_code"]}, role="friend").json
    assert check["can_redeem"] is True and f"added after yours ends on {ends.day} {ends:%B %Y}" in check["message"]
    stacked = gift_contract.call("POST", "/gifts/redeem", {"gift_code": second["gift_code"]}, role="friend")
    assert stacked.status_code == 200
    assert subscription_end(app, FRIEND) == ends + timedelta(days=30)
