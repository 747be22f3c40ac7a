"""The customer's API writes (DESIGN §5, issue 8): redeem any code, Loops into a card, give a card,
claim one; every refusal named, nothing changed by it, and the same Idempotency-Key replayed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal.campaigns import grant
from portal.campaigns.definitions import create_campaign, read_spec
from portal.cards.codes import generate_card_code
from portal.extensions import db
from portal.ledger import Actor
from portal.models import utcnow
from portal.models.campaigns import CampaignUse, Entitlement
from portal.services import services
from tests.factories import add_loops, issue, user
from tests.reads import loops_of, owner_of, snapshot, user_id

CLAIM = re.compile(r"^GL-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$")


def campaign(app, **raw) -> None:
    with app.app_context():
        spec = read_spec(db.session, {"name": "Promo", "code_mode": "vanity", **raw}, now=utcnow())
        create_campaign(db.session, services().vault, spec, actor=Actor())
        db.session.commit()


def credit(app, code="FREE5", **rules) -> None:
    campaign(app, kind="credit", currency="USD", value="5.00", code=code, **rules)


def plus(app, code="PLUS30", **rules) -> None:
    campaign(app, kind="feature", feature="plus", feature_days="30", code=code, **rules)


def everything(app) -> dict:
    """Balances, cards, owners, transfers and campaign uses: what a refusal must leave alone."""
    with app.app_context():
        uses = db.session.scalar(db.select(db.func.count(CampaignUse.id)))
        entitlements = db.session.scalar(db.select(db.func.count(Entitlement.id)))
    return {**snapshot(app), "uses": uses, "entitlements": entitlements}


def refused(response, code: str, status: int = 422) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == code
    return response.json


# --- Redeem any code ------------------------------------------------------------------------


def test_a_bearer_card_code_in_any_spelling_joins_the_wallet(app, capi):
    card_id, code = issue(app, amount="15.00")
    response = capi.post("/me/redeem", {"code": code.lower().replace("-", " ")}, role="customer")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["kind"] == "card"
    assert body["message"] == "The gift card is now in your wallet. It has a new code now: the old one no longer works."
    assert body["card"]["id"] == card_id and body["card"]["balance"] == "15.00"
    assert code not in response.get_data(as_text=True)
    assert owner_of(app, card_id) == user_id(app, "customer@example.com")


def test_a_credit_code_fills_the_wallet(app, capi):
    credit(app)
    body = capi.post("/me/redeem", {"code": "free-5"}, role="customer").json
    assert body["kind"] == "credit" and body["wallet"] == {"balance": "5.00", "currency": "USD"}
    assert "added to your wallet" in body["message"] and "card" not in body


def test_a_feature_code_unlocks_the_feature(app, capi):
    plus(app)
    body = capi.post("/me/redeem", {"code": "PLUS30"}, role="customer").json
    assert body["kind"] == "feature" and body["entitlement"]["feature"] == "plus"
    assert body["entitlement"]["ends_at"] > body["entitlement"]["starts_at"]
    assert "unlocked until" in body["message"]
    assert capi.get("/me", role="customer").json["entitlements"] == [body["entitlement"]]
    assert capi.get("/me", role="friend").json["entitlements"] == []



def test_the_customers_features_are_listed_active_and_expired_a_page_at_a_time(app, capi):
    """Can another system read what a customer unlocked, what it gives and until when?"""
    plus(app, feature_gives="Free delivery on every order")
    with app.app_context():
        long_ago = utcnow() - timedelta(days=90)
        grant(db.session, user("customer@example.com"), "early", 3, now=long_ago)
        db.session.commit()
    unlocked = capi.post("/me/redeem", {"code": "PLUS30"}, role="customer").json["entitlement"]
    first = capi.get("/me/entitlements?limit=1", role="customer").json
    assert first["entitlements"] == [{**unlocked, "gives": "Free delivery on every order", "status": "active"}]
    rest = capi.get(f"/me/entitlements?limit=1&cursor={first['next_cursor']}", role="customer").json
    (early,) = rest["entitlements"]
    assert (early["feature"], early["gives"], early["status"], rest["next_cursor"]) == ("early", "", "expired", None)
    assert early["ends_at"] < unlocked["starts_at"]
    assert capi.get("/me/entitlements", role="friend").json == {"entitlements": [], "next_cursor": None}


def test_only_a_customers_token_reads_its_features(capi):
    assert refused(capi.get("/me/entitlements", role="merchant"), "forbidden", 403)
    assert refused(capi.client.get("/api/v1/me/entitlements"), "unauthorized", 401)

def test_a_claim_code_typed_in_redeem_claims_the_friends_card(app, capi):
    card_id, _ = issue(app, owner="customer@example.com", amount="20.00")
    claim = capi.post(f"/me/cards/{card_id}/transfer", {}, role="customer").json["claim_code"]
    body = capi.post("/me/redeem", {"code": claim}, role="friend").json
    assert body["kind"] == "transfer" and body["card"]["id"] == card_id
    assert owner_of(app, card_id) == user_id(app, "friend@example.com")


@pytest.mark.parametrize(
    ("setup", "text", "code", "status"),
    [
        (None, "", "validation_error", 422),
        (None, "typo", "validation_error", 422),
        (None, "NOSUCHCODE", "not_found", 404),
        (None, "unknown card", "not_found", 404),
        ({"max_uses": "1"}, "FREE5", "usage_limit_reached", 422),
        ({"uses_per_user": "1"}, "FREE5", "already_redeemed", 422),
        ("owned", "card", "already_redeemed", 422),
    ],
)
def test_each_redeem_refusal_is_named_and_changes_nothing(app, capi, setup, text, code, status):
    if isinstance(setup, dict):
        credit(app, **setup)
        used_by = "friend" if "max_uses" in setup else "customer"
        assert capi.post("/me/redeem", {"code": "FREE5"}, role=used_by).status_code == 200
    if text == "typo":
        good = generate_card_code()
        text = good[:-1] + ("X" if good[-1] != "X" else "Y")
    elif text == "unknown card":
        text = generate_card_code()
    elif text == "card":
        _, text = issue(app, owner="stranger@example.com")
    before = everything(app)
    body = refused(capi.post("/me/redeem", {"code": text}, role="customer"), code, status)
    assert body["detail"]
    assert everything(app) == before


def test_redeem_is_for_customers_and_replays_its_key(app, capi):
    credit(app)
    assert refused(capi.post("/me/redeem", {"code": "FREE5"}, role="merchant"), "forbidden", 403)
    first = capi.post("/me/redeem", {"code": "FREE5"}, role="customer", key="redeem-1")
    again = capi.post("/me/redeem", {"code": "FREE5"}, role="customer", key="redeem-1")
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_data() == first.get_data()
    assert capi.get("/me", role="customer").json["wallet"] == [{"balance": "5.00", "currency": "USD"}]
    assert refused(capi.post("/me/redeem", {"code": "FREE5"}, role="customer", key=False), "validation_error", 400)


# --- Loops into a card ----------------------------------------------------------------------


def test_loops_become_a_card_with_its_code_shown_once(app, capi):
    add_loops(app, "customer@example.com", 1500)
    response = capi.post("/me/points/convert", {"amount": "12.50", "currency": "usd"}, role="customer")
    assert response.status_code == 201, response.json
    body = response.json
    assert body["balance"] == "12.50" and body["currency"] == "USD" and body["kind"] == "promotional"
    assert body["loops_spent"] == 1250 and body["code"].startswith("GC-")
    assert loops_of(app, "customer@example.com") == 250
    cards = capi.get("/me/cards", role="customer").json["cards"]
    assert [c["id"] for c in cards] == [body["id"]] and "code" not in cards[0]


def test_a_merchant_card_from_loops_is_scoped_to_it(app, capi):
    add_loops(app, "customer@example.com", 5000)
    body = capi.post("/me/points/convert", {"amount": 10, "merchant": "book-nook"}, role="customer").json
    assert body["merchant"] == "book-nook" and body["currency"] == "USD"


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"amount": "5.00", "currency": "USD"}, "insufficient_funds", "You have 420 Loops; this needs 500"),
        ({"currency": "USD"}, "validation_error", "amount"),
        ({"amount": "5"}, "validation_error", "one of JPY, USD"),
        ({"amount": "1.234", "currency": "USD"}, "validation_error", ""),
        ({"amount": "5", "merchant": "nowhere"}, "validation_error", "nowhere"),
        ({"amount": "5", "currency": "XYZ"}, "validation_error", "currency"),
        ({"amount": "5", "merchant": "tokyo-tea", "currency": "USD"}, "currency_mismatch", ""),
    ],
)
def test_each_convert_refusal_is_named_and_changes_nothing(app, capi, body, code, words):
    add_loops(app, "customer@example.com", 420)
    before = everything(app)
    problem = refused(capi.post("/me/points/convert", body, role="customer"), code)
    assert words in problem["detail"]
    assert everything(app) == before and loops_of(app, "customer@example.com") == 420


def test_convert_replays_its_key_and_is_for_customers(app, capi):
    add_loops(app, "customer@example.com", 2000)
    first = capi.post("/me/points/convert", {"amount": "5.00", "currency": "USD"}, role="customer", key="loops-1")
    again = capi.post("/me/points/convert", {"amount": "5.00", "currency": "USD"}, role="customer", key="loops-1")
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    assert loops_of(app, "customer@example.com") == 1500
    conflict = capi.post("/me/points/convert", {"amount": "6.00", "currency": "USD"}, role="customer", key="loops-1")
    assert refused(conflict, "idempotency_conflict")
    assert refused(capi.post("/me/points/convert", {"amount": "5"}, role="admin"), "forbidden", 403)


# --- Give a card, claim it ------------------------------------------------------------------


def test_a_card_is_given_and_claimed_by_its_code(app, capi):
    card_id, _ = issue(app, owner="customer@example.com", amount="20.00")
    given = capi.post(f"/me/cards/{card_id}/transfer", {"to_email": "Friend@Example.com"}, role="customer")
    assert given.status_code == 201, given.json
    body = given.json
    assert CLAIM.match(body["claim_code"]) and body["status"] == "pending" and body["card"]["id"] == card_id
    assert body["expires_at"].endswith("Z") and body["transfer_id"] >= 1
    claimed = capi.post("/transfers/claim", {"claim_code": body["claim_code"].lower()}, role="friend")
    assert claimed.status_code == 200, claimed.json
    assert claimed.json["card"]["id"] == card_id and claimed.json["card"]["balance"] == "20.00"
    assert owner_of(app, card_id) == user_id(app, "friend@example.com")
    before = everything(app)
    refused(capi.post("/transfers/claim", {"claim_code": body["claim_code"]}, role="friend"), "already_redeemed")
    assert everything(app) == before


def test_someone_elses_card_cannot_be_given(app, capi):
    card_id, _ = issue(app, owner="stranger@example.com")
    before = everything(app)
    refused(capi.post(f"/me/cards/{card_id}/transfer", {}, role="customer"), "not_found", 404)
    refused(capi.post("/me/cards/999999/transfer", {}, role="customer"), "not_found", 404)
    assert everything(app) == before


@pytest.mark.parametrize(
    ("body", "words"),
    [({"to_email": "not-an-address"}, "e-mail"), ({"to_email": "customer@example.com"}, "your own address")],
)
def test_a_bad_transfer_is_refused_and_changes_nothing(app, capi, body, words):
    card_id, _ = issue(app, owner="customer@example.com")
    before = everything(app)
    assert words in refused(capi.post(f"/me/cards/{card_id}/transfer", body, role="customer"), "validation_error")["detail"]
    assert everything(app) == before


def test_a_held_card_cannot_be_given_twice_and_the_key_replays(app, capi):
    card_id, _ = issue(app, owner="customer@example.com")
    first = capi.post(f"/me/cards/{card_id}/transfer", {}, role="customer", key="give-1")
    again = capi.post(f"/me/cards/{card_id}/transfer", {}, role="customer", key="give-1")
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    before = everything(app)
    refused(capi.post(f"/me/cards/{card_id}/transfer", {}, role="customer"), "validation_error")
    assert everything(app) == before and before["transfers"] == 1


def test_a_claim_by_the_wrong_address_or_code_is_refused_and_changes_nothing(app, capi):
    card_id, _ = issue(app, owner="customer@example.com")
    claim = capi.post(f"/me/cards/{card_id}/transfer", {"to_email": "friend@example.com"}, role="customer").json["claim_code"]
    before = everything(app)
    refused(capi.post("/transfers/claim", {"claim_code": claim}, role="stranger"), "forbidden", 403)
    refused(capi.post("/transfers/claim", {"claim_code": claim}, role="customer"), "validation_error")
    refused(capi.post("/transfers/claim", {"claim_code": "GL-0000-0000-0000"}, role="friend"), "not_found", 404)
    refused(capi.post("/transfers/claim", {"claim_code": "nonsense"}, role="friend"), "validation_error")
    refused(capi.post("/transfers/claim", {}, role="friend"), "validation_error")
    refused(capi.post("/transfers/claim", {"claim_code": claim}, role="merchant"), "forbidden", 403)
    assert everything(app) == before and owner_of(app, card_id) == user_id(app, "customer@example.com")
    first = capi.post("/transfers/claim", {"claim_code": claim}, role="friend", key="claim-1")
    again = capi.post("/transfers/claim", {"claim_code": claim}, role="friend", key="claim-1")
    assert first.status_code == 200 and again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
