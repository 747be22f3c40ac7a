"""The card API (DESIGN §5): every endpoint, every error code, and nothing changed by a refusal."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from portal.cards import operations
from portal.extensions import db
from portal.ledger import SYSTEM as ADMIN
from portal.ledger import verify
from portal.models import GiftCard, SecurityEvent, utcnow
from portal.services import services
from portal.tokens import create_token
from tests.api import card_row, state
from tests.factories import make_card

# --- Look-up ------------------------------------------------------------------------------


def test_a_till_looks_up_a_card_by_code_in_any_spelling(app, api):
    """Does a sloppy spelling of the code find the card, with only a masked code shown?"""
    code = make_card(app, "25.00")
    sloppy = code.lower().replace("-", " ").replace("0", "o")
    response = api.lookup(sloppy.replace(' ', ''))
    assert response.status_code == 200
    body = response.json
    assert body["balance"] == "25.00" and body["currency"] == "USD" and body["status"] == "active"
    assert body["valid_here"] is True
    assert body["code_masked"].endswith(code[-6:]) and code not in response.get_data(as_text=True)
    assert set(body) >= {"id", "code_masked", "balance", "currency", "status", "expires_at", "valid_here"}


def test_a_till_looks_up_a_card_by_its_rotating_qr_token(app, api):
    code = make_card(app, "25.00")
    card = card_row(app, code)
    with app.app_context():
        token = services().qr.issue(card.code_id)
    assert api.lookup(token).json["id"] == card.id


def test_a_card_of_another_merchant_is_shown_as_not_valid_here(app, api):
    """Does the look-up say why a card can't be used at this till?"""
    code = make_card(app, merchant="book-nook")
    body = api.lookup(code).json
    assert body["valid_here"] is False
    assert body["not_valid_reason"] == {"code": "not_valid_here", "message": "This card can only be used at The Book Nook"}


def test_an_unknown_code_is_not_found_and_a_typo_is_caught_before_look_up(app, api):
    code = make_card(app, "25.00")
    from portal.cards.codes import generate_card_code

    missing = api.lookup(generate_card_code())
    assert missing.status_code == 404 and missing.json["code"] == "not_found"
    assert missing.mimetype == "application/problem+json"
    typo = code[:-1] + ("X" if code[-1] != "X" else "Y")
    response = api.lookup(typo)
    assert response.status_code == 422 and response.json["code"] == "validation_error"
    assert "typo" in response.json["detail"]


def test_without_a_token_the_api_answers_401_and_a_customer_token_403(app, api):
    code = make_card(app, "25.00")
    response = api.client.post("/api/v1/cards/lookup", json={"code": code})
    assert response.status_code == 401 and response.json["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    bad = api.client.post("/api/v1/cards/lookup", json={"code": code}, headers={"Authorization": "Bearer glt_not-a-token"})
    assert bad.status_code == 401
    forbidden = api.lookup(code, role="customer")
    assert forbidden.status_code == 403 and forbidden.json["code"] == "forbidden"


# --- Issue ---------------------------------------------------------------------------------


def test_issuing_a_card_shows_the_full_code_once(app, api):
    """Is the full code in the 201 answer, and only the masked code afterwards?"""
    response = api.post("/cards", {"amount": "40.00", "currency": "USD", "owner_email": "customer@example.com"})
    assert response.status_code == 201, response.json
    code = response.json["code"]
    assert response.json["balance"] == "40.00"
    assert response.json["merchant"] == "corner-cafe"  # staff sell for their own store
    again = api.lookup(code)
    assert "code" not in again.json and again.json["balance"] == "40.00"
    mine = api.get("/me/cards", role="customer").json["cards"]
    assert [c["balance"] for c in mine] == ["40.00"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"amount": "-5", "currency": "USD"}, "The amount must be more than zero"),
        ({"amount": "10.001", "currency": "USD"}, "USD amounts have at most 2 decimal places"),
        ({"amount": "1e3", "currency": "USD"}, "no exponent notation"),
        ({"amount": "10", "currency": "XYZ"}, "Unknown currency XYZ"),
        ({"amount": "10", "currency": "USD", "owner_email": "nobody@example.com"}, "No customer has that e-mail address"),
        ({"amount": "10", "currency": "USD", "expires_in_days": 30}, "5 years"),
    ],
)
def test_a_bad_issue_request_is_refused_and_issues_nothing(app, api, body, detail):
    before = state(app)
    response = api.post("/cards", body)
    assert response.status_code == 422, response.json
    assert response.json["code"] == "validation_error"
    assert detail in response.json["detail"]
    assert state(app) == before


def test_every_write_needs_an_idempotency_key(app, api):
    before = state(app)
    response = api.post("/cards", {"amount": "10", "currency": "USD"}, key=False)
    assert response.status_code == 400 and "Idempotency-Key" in response.json["detail"]
    assert state(app) == before


# --- Redeem --------------------------------------------------------------------------------


def test_a_card_pays_in_parts_until_it_is_empty(app, api):
    """Does a 10.00 card pay 3.00, then 5.00, then 2.00, and then refuse?"""
    card_id = api.card_id(make_card(app, "10.00"))
    for amount, left in (("3.00", "7.00"), ("5", "2.00"), (2, "0.00")):
        response = api.post(f"/cards/{card_id}/redeem", {"amount": amount, "reference": "order-1"})
        assert response.status_code == 200, response.json
        assert response.json["card"]["balance"] == left
        assert response.json["remaining_due"] == "0.00"
        assert response.json["transaction"]["kind"] == "redeem"
    refused = api.post(f"/cards/{card_id}/redeem", {"amount": "0.01"})
    assert refused.json["code"] == "insufficient_funds"


def test_an_exact_redemption_larger_than_the_balance_is_refused_and_changes_nothing(app, api):
    code = make_card(app, "7.50")
    before = state(app)
    response = api.redeem(code, {"amount": "10.00"})
    assert response.status_code == 422 and response.json["code"] == "insufficient_funds"
    assert "7.50" in response.json["detail"]
    assert state(app) == before


def test_allow_partial_applies_what_the_card_holds_and_reports_what_is_still_due(app, api):
    code = make_card(app, "7.50")
    response = api.redeem(code, {"amount": "10.00", "allow_partial": True})
    assert response.status_code == 200
    assert (response.json["applied"], response.json["remaining_due"]) == ("7.50", "2.50")
    assert response.json["card"]["balance"] == "0.00"


@pytest.mark.parametrize(
    ("setup", "body", "code", "status"),
    [
        ("frozen", {"amount": "1.00"}, "frozen", 422),
        ("cancelled", {"amount": "1.00"}, "cancelled", 422),
        ("expired", {"amount": "1.00"}, "expired", 422),
        ("other_merchant", {"amount": "1.00"}, "not_valid_here", 422),
        ("active", {"amount": "1.00", "currency": "EUR"}, "currency_mismatch", 422),
        ("active", {"amount": "1.001"}, "validation_error", 422),
        ("active", {"amount": "NaN"}, "validation_error", 422),
        ("active", {}, "validation_error", 422),
        ("active", {"amount": "1.00", "allow_partial": "yes"}, "validation_error", 422),
    ],
)
@pytest.mark.parametrize("by", ["code", "id"])
def test_a_refused_redemption_names_its_reason_and_changes_nothing(app, api, setup, body, code, status, by):
    card_code = make_card(app, "25.00", merchant="book-nook" if setup == "other_merchant" else None)
    card = card_row(app, card_code)
    with app.app_context():
        row = db.session.get(GiftCard, card.id)
        if setup in ("frozen", "cancelled"):
            action = operations.freeze if setup == "frozen" else operations.cancel
            kwargs = {"idempotency_key": "c1"} if setup == "cancelled" else {}
            action(db.session, row, actor=ADMIN, reason="test", **kwargs)
        elif setup == "expired":
            row.expires_at = utcnow() - timedelta(days=1)
        db.session.commit()
    card_id = api.card_id(card_code)
    before = state(app)
    response = api.redeem(card_code, body) if by == "code" else api.post(f"/cards/{card_id}/redeem", body)
    assert response.status_code == status, response.json
    assert response.json["code"] == code
    assert state(app) == before


def test_a_yen_card_refuses_fractions(app, api):
    """Is "1.5" on a JPY card refused with the currency's own reason?"""
    code = make_card(app, "5000", currency="JPY")
    response = api.redeem(code, {"amount": "1.5"})
    assert response.json["code"] == "validation_error"
    assert response.json["detail"] == "JPY amounts are whole numbers"


# --- Idempotency ---------------------------------------------------------------------------


def test_the_same_key_ten_times_charges_once_and_answers_the_same(app, api):
    code = make_card(app, "25.00")
    answers = [api.redeem(code, {"amount": "10.00"}, key="till-7-sale-1") for _ in range(10)]
    assert {a.status_code for a in answers} == {200}
    assert len({a.get_data() for a in answers}) == 1
    assert answers[-1].headers.get("Idempotent-Replayed") == "true"
    assert api.lookup(code).json["balance"] == "15.00"


def test_the_same_key_with_another_amount_is_a_conflict_and_changes_nothing(app, api):
    code = make_card(app, "25.00")
    api.redeem(code, {"amount": "10.00"}, key="k1")
    before = state(app)
    response = api.redeem(code, {"amount": "11.00"}, key="k1")
    assert response.status_code == 422 and response.json["code"] == "idempotency_conflict"
    assert state(app) == before


def test_a_refusal_is_replayed_for_its_key_too(app, api):
    """Does a retried refused request get the same refusal, not a second attempt?"""
    code = make_card(app, "5.00")
    first = api.redeem(code, {"amount": "10.00"}, key="k2")
    again = api.redeem(code, {"amount": "10.00"}, key="k2")
    assert first.status_code == again.status_code == 422
    assert first.get_data() == again.get_data()


def test_keys_are_scoped_to_the_token(app, api):
    """Can two tokens use the same key without seeing each other's answers?"""
    code = make_card(app, "25.00")
    api.redeem(code, {"amount": "1.00"}, key="shared", role="merchant")
    response = api.redeem(code, {"amount": "2.00"}, key="shared", role="admin")
    assert response.status_code == 200 and response.json["card"]["balance"] == "22.00"


# --- Load, history, reverse ----------------------------------------------------------------


def test_a_till_loads_cash_onto_a_card_and_sees_it_in_the_history(app, api):
    card_id = api.card_id(make_card(app, "5.00"))
    response = api.post(f"/cards/{card_id}/load", {"amount": "20.00"})
    assert response.status_code == 200, response.json
    assert response.json["card"]["balance"] == "25.00"
    history = api.get(f"/cards/{card_id}/transactions").json["transactions"]
    assert [(t["kind"], t["amount"]) for t in history] == [("load", "20.00"), ("issue", "5.00")]


def test_staff_undo_a_redemption_of_today_with_a_reason(app, api):
    code = make_card(app, "25.00")
    tx = api.redeem(code, {"amount": "10.00"}).json["transaction"]["id"]
    missing_reason = api.post(f"/transactions/{tx}/reverse", {})
    assert missing_reason.status_code == 422 and missing_reason.json["field"] == "reason"
    response = api.post(f"/transactions/{tx}/reverse", {"reason": "wrong card"})
    assert response.status_code == 201, response.json
    assert response.json["transaction"]["reverses"] == tx
    assert api.lookup(code).json["balance"] == "25.00"
    twice = api.post(f"/transactions/{tx}/reverse", {"reason": "again"})
    assert twice.status_code == 422
    assert api.lookup(code).json["balance"] == "25.00"


def test_staff_cannot_undo_another_merchants_transaction(app, api):
    code = make_card(app, "25.00")
    tx = api.redeem(code, {"amount": "10.00"}, role="admin").json["transaction"]["id"]
    before = state(app)
    response = api.post(f"/transactions/{tx}/reverse", {"reason": "not ours"})
    assert response.status_code == 404 and response.json["code"] == "not_found"  # as if it never was
    assert state(app) == before


# --- Guessing ------------------------------------------------------------------------------


def test_guessing_codes_is_locked_out_even_for_a_valid_code(app, api):
    """After 10 misses, is the 11th look-up refused with 429 and Retry-After, and reported?"""
    from portal.cards.codes import generate_card_code

    real = make_card(app, "25.00")
    for _ in range(10):
        assert api.lookup(generate_card_code()).status_code == 404
    locked = api.lookup(real)
    assert locked.status_code == 429 and locked.json["code"] == "rate_limited"
    assert int(locked.headers["Retry-After"]) > 0
    redeem = api.redeem(real, {"amount": "1.00"})
    assert redeem.status_code == 429
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(SecurityEvent.id)).where(SecurityEvent.kind == "code_guessing_locked")) >= 1
    # An admin at the same address spends their own account's budget: the staff member's misses lock only them.
    assert api.lookup(real, role="admin").status_code == 200


# --- The customer's own ------------------------------------------------------------------


def test_a_customer_sees_their_wallet_cards_and_history(app, api, people):
    api.post("/cards", {"amount": "40.00", "currency": "USD", "owner_email": people["customer"]}, role="admin")
    me = api.get("/me", role="customer").json
    assert me["email"] == people["customer"] and me["tier"] == "Bronze" and me["loops"] == 0
    cards = api.get("/me/cards", role="customer").json["cards"]
    assert len(cards) == 1 and cards[0]["balance"] == "40.00"
    history = api.get("/me/transactions", role="customer").json["transactions"]
    assert [(t["kind"], t["amount"]) for t in history] == [("issue", "40.00")]
    assert api.get("/me/cards", role="merchant").status_code == 403


def test_the_ledger_verifies_after_a_day_of_api_traffic(app, api):
    card_id = api.card_id(make_card(app, "30.00"))
    api.post(f"/cards/{card_id}/redeem", {"amount": "12.34"})
    api.post(f"/cards/{card_id}/load", {"amount": "5.00"})
    api.post(f"/cards/{card_id}/redeem", {"amount": "50.00", "allow_partial": True})
    with app.app_context():
        assert verify(db.session) == []


# --- Codes never in a URL; ids only after the code -----------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "moved"),
    [
        ("GET", "/cards/{code}", "POST /api/v1/cards/lookup"),
        ("POST", "/cards/{code}/redeem", "POST /api/v1/cards/redeem"),
        ("POST", "/cards/{code}/load", "POST /api/v1/cards/{id}/load"),
        ("GET", "/cards/{code}/transactions", "GET /api/v1/cards/{id}/transactions"),
    ],
)
def test_the_routes_with_a_code_in_the_path_are_gone_and_do_not_echo_it(app, api, method, path, moved):
    """Does an old client get 410 with the route to use instead, its code not repeated, nothing changed?"""
    code = make_card(app, "25.00")
    before = state(app)
    response = api.client.open(
        f"/api/v1{path.format(code=code)}", method=method, json={"amount": "1.00"},
        headers={"Authorization": f"Bearer {api.tokens['merchant']}", "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 410 and response.mimetype == "application/problem+json"
    assert response.json["code"] == "gone" and response.json["use"].startswith(moved)
    assert code not in response.get_data(as_text=True) and code.replace("-", "") not in response.get_data(as_text=True)
    assert state(app) == before


def test_staff_name_a_card_by_id_only_after_showing_its_code(app, api):
    """Is a real card id, never looked up by this user, as unknown as a made-up code? And usable after?"""
    code = make_card(app, "25.00")
    card_id = card_row(app, code).id
    before = state(app)
    for call in (
        lambda: api.post(f"/cards/{card_id}/redeem", {"amount": "1.00"}),
        lambda: api.post(f"/cards/{card_id}/load", {"amount": "1.00"}),
        lambda: api.get(f"/cards/{card_id}/transactions"),
    ):
        refused = call()
        assert refused.status_code == 404 and refused.json["code"] == "not_found"
        assert "/cards/lookup" in refused.json["detail"]
    assert state(app) == before
    assert api.post(f"/cards/{card_id}/redeem", {"amount": "1.00"}, role="admin").status_code == 200  # admins: any
    assert api.card_id(code) == card_id
    assert api.post(f"/cards/{card_id}/redeem", {"amount": "1.00"}).json["card"]["balance"] == "23.00"
    assert api.get(f"/cards/{card_id}/transactions").status_code == 200


def test_an_issued_card_can_be_named_by_id_by_its_issuer(app, api):
    issued = api.post("/cards", {"amount": "10.00", "currency": "USD"}).json
    assert api.post(f"/cards/{issued['id']}/load", {"amount": "5.00"}).json["card"]["balance"] == "15.00"


def test_a_new_code_drops_every_grant_of_the_old_one(app, api):
    """After a card gets a new code (a claim, a transfer), does its id stop working for who showed the old one?"""
    from portal.models import Code

    code = make_card(app, "25.00")
    card_id = api.card_id(code)
    with app.app_context():
        card = db.session.get(GiftCard, card_id)
        fresh = Code(lookup_hash="0" * 64, ciphertext=b"x" * 40, masked="GC-••••-••••-••••-0000-0")
        db.session.add(fresh)
        db.session.flush()
        card.code_id = fresh.id
        db.session.commit()
    before = state(app)
    assert api.post(f"/cards/{card_id}/redeem", {"amount": "1.00"}).status_code == 404
    assert state(app) == before


def test_another_stores_card_history_is_refused_by_id_even_after_a_look_up(app, api):
    card_id = api.card_id(make_card(app, "25.00", merchant="book-nook"))
    assert api.get(f"/cards/{card_id}/transactions").status_code == 404
    assert api.post(f"/cards/{card_id}/redeem", {"amount": "1.00"}).json["code"] == "not_valid_here"


def test_walking_card_ids_counts_as_guessing(app, api):
    """Is trying ids one after another locked out like trying codes?"""
    real = make_card(app, "25.00")
    for card_id in range(1, 11):
        assert api.get(f"/cards/{card_id}/transactions").status_code == 404
    assert api.lookup(real).status_code == 429


def test_a_look_up_without_a_code_says_what_is_missing(app, api):
    for body in ({}, {"code": ""}, {"code": 42}):
        response = api.client.post(
            "/api/v1/cards/lookup", json=body, headers={"Authorization": f"Bearer {api.tokens['merchant']}"}
        )
        assert response.status_code == 422 and response.json["field"] == "code"


def test_an_unexpected_error_on_a_card_call_logs_no_code(app, api, monkeypatch, caplog):
    """A server error whose message quotes the code: does the error log hold only the masked code?"""
    code = make_card(app, "25.00")

    def broken(session, text, vault, qr):
        raise RuntimeError(f"could not read card {text} ({text.replace('-', '').lower()})")

    monkeypatch.setattr("portal.api.cards.find_card", broken)
    response = api.redeem(code, {"amount": "1.00"})
    assert response.status_code == 500
    logged = caplog.text
    assert "could not read card GC-••••-••••-••••-" in logged and "RuntimeError" in logged
    for spelling in (code, code.replace("-", ""), code.replace("-", "").lower()):
        assert spelling not in logged


def test_a_look_up_lets_only_its_own_user_name_the_card_by_id(app, api):
    """Does a colleague at the same store, who never saw the code, get the id refused?"""
    from portal.auth.users import create_user
    from portal.models import Merchant

    with app.app_context():
        cafe = db.session.scalar(db.select(Merchant).where(Merchant.slug == "corner-cafe"))
        colleague = create_user(db.session, "colleague@example.com", "a long password", role="merchant", merchant=cafe)
        api.tokens["colleague"] = create_token(db.session, colleague, "tests")[1]
        db.session.commit()
    card_id = api.card_id(make_card(app, "25.00"))
    assert api.post(f"/cards/{card_id}/redeem", {"amount": "1.00"}, role="colleague").status_code == 404
    assert api.post(f"/cards/{card_id}/redeem", {"amount": "1.00"}).status_code == 200
