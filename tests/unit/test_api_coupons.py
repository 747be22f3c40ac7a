"""The coupon API (DESIGN §5): every endpoint, its fields and status codes, and every error code."""

from __future__ import annotations

import uuid

import pytest

from portal.extensions import db
from portal.merchants import create_merchant
from portal.models import AuditEvent, User
from portal.models.campaigns import Campaign, CampaignUse
from portal.tokens import create_token

SAVE15 = {"code": "SAVE15", "discount_type": "percent", "discount_value": "15", "max_uses": 5}


class Api:
    """Calls the API as a program would: a role's bearer token and a fresh Idempotency-Key."""

    def __init__(self, client, tokens):
        self.client, self.tokens = client, tokens

    def _headers(self, role, key):
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        if key is not False:
            headers["Idempotency-Key"] = key or str(uuid.uuid4())
        return headers

    def get(self, path, role="admin"):
        return self.client.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {self.tokens[role]}"})

    def send(self, method, path, body=None, role="merchant", key=None):
        return self.client.open(
            f"/api/v1{path}", method=method, json=body if body is not None else {}, headers=self._headers(role, key)
        )

    def post(self, path, body=None, role="merchant", key=None):
        return self.send("POST", path, body, role, key)


@pytest.fixture
def api(app, people):
    with app.app_context():
        create_merchant(db.session, "book-nook", "The Book Nook")
        tokens = {}
        for role, email in people.items():
            user = db.session.scalar(db.select(User).where(User.email == email))
            tokens[role] = create_token(db.session, user, "tests")[1]
        db.session.commit()
    return Api(app.test_client(), tokens)


@pytest.fixture
def save15(api):
    response = api.post("/coupons", SAVE15, role="admin")
    assert response.status_code == 201, response.json
    return response.json


def uses(app) -> tuple[int, int]:
    with app.app_context():
        return (
            db.session.scalar(db.select(db.func.sum(Campaign.uses))) or 0,
            db.session.scalar(db.select(db.func.count(CampaignUse.id))),
        )


def problem(response, status, code):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == code
    return response.json


# --- Admin: create, read, replace, delete ------------------------------------------------


def test_an_admin_creates_a_coupon_and_reads_it_back(api, save15):
    assert {k: save15[k] for k in ("code", "discount_type", "discount_value", "max_uses", "uses", "channels")} == {
        "code": "SAVE15", "discount_type": "percent", "discount_value": "15", "max_uses": 5, "uses": 0, "channels": ["web", "api"],
    }
    assert api.get(f"/coupons/{save15['id']}").json == save15


def test_a_fixed_coupon_with_every_rule(api):
    body = {
        "code": "TAKE5", "discount_type": "fixed", "discount_value": "5.00", "currency": "usd", "max_uses": 100,
        "uses_per_user": 1, "expires_at": "2099-12-31", "min_order": "20.00", "merchants": ["corner-cafe"],
        "allowed_domains": ["example.com"], "channels": ["api"],
    }
    created = api.post("/coupons", body, role="admin").json
    assert created["discount_value"] == "5.00" and created["currency"] == "USD" and created["min_order"] == "20.00"
    assert created["expires_at"] == "2100-01-01T00:00:00Z"
    assert (created["merchants"], created["allowed_domains"], created["channels"], created["uses_per_user"]) == (
        ["corner-cafe"], ["example.com"], ["api"], 1,
    )


def test_a_coupon_s_timeframe_first_order_and_caps_are_set_kept_and_replaced_through_the_api(api):
    """Are weekdays, hours, first order only and the two caps taken, shown, kept by a PUT that
    repeats them and changed by one that changes them; is a bad one refused naming its field?"""
    rules = {**SAVE15, "code": "LUNCH", "currency": "USD", "weekdays": ["Mon", "Fri"], "hours_from": "11:30",
             "hours_until": "14:00", "first_order_only": True, "max_discount": "4.00",
             "max_discount_per_customer": "10.00"}
    created = api.post("/coupons", rules, role="admin")
    assert created.status_code == 201, created.json
    shown = api.get(f"/coupons/{created.json['id']}", role="admin").json
    assert {key: shown[key] for key in ("weekdays", "hours_from", "hours_until", "first_order_only", "max_discount",
                                        "max_discount_per_customer")} == {
        "weekdays": ["Mon", "Fri"], "hours_from": "11:30", "hours_until": "14:00", "first_order_only": True,
        "max_discount": "4.00", "max_discount_per_customer": "10.00"}
    replaced = api.send("PUT", f"/coupons/{shown['id']}", {**rules, "max_discount": "3.00"}, role="admin").json
    assert (replaced["weekdays"], replaced["hours_from"], replaced["max_discount"]) == (["Mon", "Fri"], "11:30", "3.00")
    refused = problem(api.post("/coupons", {**rules, "code": "LUNCH2", "weekdays": ["Funday"]}, role="admin"),
                      422, "validation_error")
    assert refused["pointer"] == "/weekdays/0"
    refused = problem(api.post("/coupons", {**rules, "code": "LUNCH3", "hours_until": None}, role="admin"),
                      422, "validation_error")
    assert refused["field"] == "hours_until"


def test_create_refuses_bad_rules_with_the_field(api):
    problem(api.post("/coupons", {**SAVE15, "discount_value": "150"}, role="admin"), 422, "validation_error")
    body = problem(api.post("/coupons", {k: v for k, v in SAVE15.items() if k != "max_uses"}, role="admin"), 422, "validation_error")
    assert body["field"] == "max_uses"
    body = problem(api.post("/coupons", {**SAVE15, "merchants": ["nowhere"]}, role="admin"), 422, "validation_error")
    assert (body["field"], body["detail"]) == ("merchants", "No merchant with the slug nowhere")
    body = problem(api.post("/coupons", {**SAVE15, "colour": "red"}, role="admin"), 422, "validation_error")
    assert body["detail"] == "Unknown field colour"


def test_a_code_in_use_cannot_be_created_again(api, save15):
    body = problem(api.post("/coupons", {**SAVE15, "code": "save-15"}, role="admin"), 422, "validation_error")
    assert body["detail"] == "That code is already in use; choose another"


def test_an_admin_replaces_a_coupon_but_not_below_its_uses(api, save15):
    for _ in range(2):
        assert api.post("/coupons/redeem", {"code": "SAVE15", "order_total": "10.00"}).status_code == 200
    replaced = api.send("PUT", f"/coupons/{save15['id']}", {**SAVE15, "max_uses": 3, "discount_value": 20}, role="admin")
    assert replaced.status_code == 200 and replaced.json["max_uses"] == 3 and replaced.json["discount_value"] == "20"
    body = problem(api.send("PUT", f"/coupons/{save15['id']}", {**SAVE15, "max_uses": 1}, role="admin"), 422, "validation_error")
    assert body["detail"] == "This campaign was already used 2 times; the limit cannot be lower"


def test_an_admin_deletes_a_coupon_and_its_code_stops_working(app, api, save15):
    response = api.send("DELETE", f"/coupons/{save15['id']}", role="admin")
    assert response.status_code == 204 and response.get_data() == b""
    problem(api.get(f"/coupons/{save15['id']}"), 404, "not_found")
    problem(api.post("/coupons/validate", {"code": "SAVE15", "order_total": "10.00"}), 404, "not_found")
    with app.app_context():
        assert db.session.scalar(db.select(AuditEvent.action).where(AuditEvent.action == "campaign.deleted"))


def test_unknown_coupons_are_not_found(api):
    problem(api.get("/coupons/999"), 404, "not_found")
    problem(api.send("PUT", "/coupons/999", SAVE15, role="admin"), 404, "not_found")
    problem(api.send("DELETE", "/coupons/999", role="admin"), 404, "not_found")


# --- Tills: validate and redeem ------------------------------------------------------------


def test_validate_answers_the_discount_and_uses_nothing(app, api, save15):
    response = api.post("/coupons/validate", {"code": "save15", "order_total": "40.00"}, key=False)
    assert response.status_code == 200
    assert response.json == {
        "discount": "6.00", "total_after": "34.00", "currency": "USD",
        "coupon": {"id": save15["id"], "discount_type": "percent", "discount_value": "15"},
    }
    assert uses(app) == (0, 0)


def test_redeem_counts_one_use_and_a_replay_counts_nothing_more(app, api, save15):
    body = {"code": "SAVE15", "order_total": 40, "reference": "sale-7", "customer_email": "cara@example.com"}
    first = api.post("/coupons/redeem", body, key="sale-7")
    assert first.status_code == 200
    assert (first.json["discount"], first.json["total_after"], first.json["use"]["reference"]) == ("6.00", "34.00", "sale-7")
    again = api.post("/coupons/redeem", body, key="sale-7")
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert uses(app) == (1, 1)


def test_redeem_needs_an_idempotency_key_and_the_same_key_with_another_body_conflicts(app, api, save15):
    problem(api.post("/coupons/redeem", {"code": "SAVE15", "order_total": "10.00"}, key=False), 400, "validation_error")
    api.post("/coupons/redeem", {"code": "SAVE15", "order_total": "10.00"}, key="k1")
    problem(api.post("/coupons/redeem", {"code": "SAVE15", "order_total": "11.00"}, key="k1"), 422, "idempotency_conflict")
    assert uses(app) == (1, 1)


def test_the_limit_is_reached_after_max_uses(app, api, save15):
    for _ in range(5):
        assert api.post("/coupons/redeem", {"code": "SAVE15", "order_total": "10.00"}).status_code == 200
    body = problem(api.post("/coupons/redeem", {"code": "SAVE15", "order_total": "10.00"}), 422, "usage_limit_reached")
    assert body["detail"] == "This code has been used the maximum number of times"
    problem(api.post("/coupons/validate", {"code": "SAVE15", "order_total": "10.00"}), 422, "usage_limit_reached")
    assert uses(app) == (5, 5)


@pytest.mark.parametrize(
    ("rules", "order", "status", "code", "detail"),
    [
        ({"expires_at": "2020-01-01"}, {}, 422, "validation_error", "The expiry date must be in the future"),
        ({"uses_per_user": 1}, {"customer_email": "cara@example.com"}, None, "already_redeemed", "You have already used this code"),
        ({"allowed_domains": ["staff.example.com"]}, {"customer_email": "cara@example.com"}, 422, "not_valid_here",
         "This code is not valid for your e-mail address"),
        ({"merchants": ["book-nook"]}, {}, 422, "not_valid_here", "This code can only be used at The Book Nook"),
        ({"channels": ["web"]}, {}, 422, "not_valid_here", "This code can only be used on the Giftloop website"),
        ({"min_order": "50.00", "currency": "USD"}, {}, 422, "not_valid_here", "This coupon needs an order of at least 50.00 USD"),
        ({"discount_type": "fixed", "discount_value": "5.00", "currency": "EUR"}, {}, 422, "currency_mismatch",
         "This coupon is for orders in EUR, not USD"),
    ],
)
def test_every_refusal_has_its_code_and_counts_nothing(app, api, rules, order, status, code, detail):
    created = api.post("/coupons", {**SAVE15, **rules}, role="admin")
    if status is not None and created.status_code == 422:
        problem(created, status, code)  # refused when the admin gives it
        assert created.json["detail"] == detail
        return
    assert created.status_code == 201
    body = {"code": "SAVE15", "order_total": "40.00", **order}
    if code == "already_redeemed":
        assert api.post("/coupons/redeem", body).status_code == 200
    before = uses(app)
    for path in ("/coupons/validate", "/coupons/redeem"):
        answer = problem(api.post(path, body), 422, code)
        assert answer["detail"] == detail
    assert uses(app) == before


def test_a_coupon_past_its_date_is_expired(app, api, save15):
    from datetime import datetime, timezone

    with app.app_context():
        db.session.get(Campaign, save15["id"]).expires_at = datetime(2020, 1, 1, tzinfo=timezone.utc)
        db.session.commit()
    body = problem(api.post("/coupons/validate", {"code": "SAVE15", "order_total": "10.00"}), 422, "expired")
    assert body["detail"] == "This code has expired"


def test_bad_orders_are_validation_errors(api, save15):
    body = problem(api.post("/coupons/validate", {"code": "SAVE15", "order_total": "10.001"}), 422, "validation_error")
    assert (body["field"], body["detail"]) == ("order_total", "USD amounts have at most 2 decimal places")
    assert problem(api.post("/coupons/validate", {"code": "SAVE15"}), 422, "validation_error")["field"] == "order_total"
    assert problem(api.post("/coupons/validate", {"order_total": "1.00"}), 422, "validation_error")["field"] == "code"
    problem(api.post("/coupons/validate", {"code": "SAVE15", "order_total": "1", "customer_email": "nope"}), 422, "validation_error")


def test_unknown_codes_count_as_guesses_until_the_caller_is_locked_out(app, api, save15):
    """After 10 unknown codes, even the real coupon gets 429 with Retry-After (DESIGN §7)."""
    for i in range(10):
        problem(api.post("/coupons/validate", {"code": f"WRONG{i}", "order_total": "10.00"}), 404, "not_found")
    locked = problem(api.post("/coupons/validate", {"code": "SAVE15", "order_total": "10.00"}), 429, "rate_limited")
    assert locked["detail"].startswith("Too many codes that didn't work")
    assert int(api.post("/coupons/redeem", {"code": "SAVE15", "order_total": "10.00"}).headers["Retry-After"]) > 0
    assert uses(app) == (0, 0)


def test_roles_and_tokens(api, save15):
    problem(api.client.post("/api/v1/coupons/validate", json={}), 401, "unauthorized")
    problem(api.post("/coupons/validate", {"code": "SAVE15", "order_total": "1"}, role="customer"), 403, "forbidden")
    problem(api.post("/coupons", SAVE15, role="merchant"), 403, "forbidden")
    problem(api.get(f"/coupons/{save15['id']}", role="merchant"), 403, "forbidden")


def test_a_coupon_created_without_a_name_is_named_by_its_discount_not_its_code(app, api):
    """Do lists, reports and the audit log of an API coupon without a name never show its code?"""
    percent = api.post("/coupons", {**SAVE15, "code": "SPRINGSAVE15"}, role="admin").json
    fixed = api.post("/coupons", {"code": "TAKE5NOW", "discount_type": "fixed", "discount_value": "5.00",
                                  "currency": "usd", "max_uses": 3}, role="admin").json
    assert (percent["name"], fixed["name"]) == ("Coupon 15% off", "Coupon 5.00 USD off")
    with app.app_context():
        audited = " ".join(str((e.action, e.target, e.reason, e.detail)) for e in db.session.scalars(db.select(AuditEvent)))
        names = " ".join(db.session.scalars(db.select(Campaign.name)))
    assert "15% off" in names
    for code in ("SPRINGSAVE15", "TAKE5NOW"):
        assert code not in audited and code not in names
