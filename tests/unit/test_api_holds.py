"""Holds through the API (issue 27): place, capture (all or less), release, lapse; every refusal
names its rule and changes nothing, and the ledger verifies after holds in every state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.cards import operations
from portal.cards.holds import lapse_due
from portal.extensions import db
from portal.ledger import SYSTEM as ADMIN
from portal.ledger import verify
from portal.models import GiftCard, utcnow
from portal.models.events import Event
from portal.models.holds import Hold
from tests.api import card_row, state
from tests.factories import make_card
from tests.pages import text


def hold(api, code, amount="40.00", role="merchant", key=None, **more):
    return api.post("/holds", {"code": code, "amount": amount, **more}, role, key)


def ledger_is_sound(app) -> None:
    with app.app_context():
        assert verify(db.session) == []


def lapse(app, now) -> int:
    with app.app_context():
        done = lapse_due(db.session, now)
        db.session.commit()
        return done


# --- Placing ---------------------------------------------------------------------------------


def test_a_hold_reserves_part_of_the_balance_and_the_card_shows_held_and_available(app, api):
    """Does a 40.00 hold on a 100.00 card leave 60.00 available, with the balance still 100.00?"""
    code = make_card(app, "100.00")
    response = hold(api, code, "40.00", reference="order-1042")
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["state"], body["amount"], body["captured"], body["reference"]) == ("open", "40.00", None, "order-1042")
    assert (body["card"]["balance"], body["card"]["held"], body["card"]["available"]) == ("100.00", "40.00", "60.00")
    assert body["transaction"]["kind"] == "hold" and body["transaction"]["amount"] == "-40.00"
    looked_up = api.lookup(code).json
    assert (looked_up["balance"], looked_up["held"], looked_up["available"]) == ("100.00", "40.00", "60.00")
    ledger_is_sound(app)


def test_a_hold_lapses_after_seven_days_unless_told_otherwise_and_never_after_the_card(app, api):
    code = make_card(app, "100.00")
    week = hold(api, code, "1.00").json
    assert week["expires_at"][:10] == (utcnow() + timedelta(days=7)).date().isoformat()
    two_hours = hold(api, code, "1.00", expires_in_hours=2).json
    assert two_hours["expires_at"][:13] == (utcnow() + timedelta(hours=2)).isoformat()[:13]
    card_id = card_row(app, code).id
    with app.app_context():
        db.session.get(GiftCard, card_id).expires_at = utcnow() + timedelta(days=2)
        db.session.commit()
    capped = hold(api, code, "1.00").json
    assert capped["expires_at"] == capped["card"]["expires_at"]


def test_held_money_cannot_be_paid_by_the_card_until_the_hold_ends(app, api):
    """Does a redemption see only what is available, and the whole again once the hold is released?"""
    code = make_card(app, "50.00")
    hold_id = hold(api, code, "30.00").json["id"]
    refused = api.redeem(code, {"amount": "25.00"})
    assert refused.status_code == 422 and refused.json["code"] == "insufficient_funds"
    assert api.post(f"/holds/{hold_id}/release").status_code == 200
    assert api.redeem(code, {"amount": "25.00"}).status_code == 200


@pytest.mark.parametrize(
    ("setup", "body", "code", "detail"),
    [
        ("active", {"amount": "60.01"}, "insufficient_funds", "This card has 60.00 USD available; 60.01 USD is more than that"),
        ("frozen", {"amount": "1.00"}, "frozen", "This card is frozen; please contact Giftloop support"),
        ("cancelled", {"amount": "1.00"}, "cancelled", "This card was cancelled"),
        ("expired", {"amount": "1.00"}, "expired", "This card expired on"),
        ("other_merchant", {"amount": "1.00"}, "not_valid_here", "This card can only be used at The Book Nook"),
        ("active", {"amount": "1.00", "currency": "EUR"}, "currency_mismatch", "This card holds USD"),
        ("active", {"amount": "0"}, "validation_error", "The amount must be more than zero"),
        ("active", {"amount": "1.00", "expires_in_hours": 0}, "validation_error", "A hold lasts from 1 to 720 hours"),
        ("active", {"amount": "1.00", "expires_in_hours": 721}, "validation_error", "A hold lasts from 1 to 720 hours"),
    ],
)
def test_a_refused_hold_names_its_rule_and_changes_nothing(app, api, setup, body, code, detail):
    card_code = make_card(app, "100.00", merchant="book-nook" if setup == "other_merchant" else None)
    if setup == "active":
        hold(api, card_code, "40.00")
    card_id = card_row(app, card_code).id
    with app.app_context():
        row = db.session.get(GiftCard, card_id)
        if setup == "frozen":
            operations.freeze(db.session, row, actor=ADMIN, reason="test")
        elif setup == "cancelled":
            operations.cancel(db.session, row, actor=ADMIN, reason="test", idempotency_key="c1")
        elif setup == "expired":
            row.expires_at = utcnow() - timedelta(days=1)
        db.session.commit()
    before = state(app)
    response = api.post("/holds", {"code": card_code, **body})
    assert response.status_code == 422, response.json
    assert response.json["code"] == code and response.json["detail"].startswith(detail)
    assert state(app) == before


def test_a_hold_names_its_card_by_code_or_by_id_but_not_both(app, api):
    code = make_card(app, "10.00")
    card_id = api.card_id(code)
    assert api.post("/holds", {"card_id": card_id, "amount": "1.00"}).status_code == 201
    before = state(app)
    for body in ({"amount": "1.00"}, {"code": code, "card_id": card_id, "amount": "1.00"}):
        response = api.post("/holds", body)
        assert response.status_code == 422
        assert response.json["detail"] == "Give the card's code or its id from a look-up (one of them)"
    assert state(app) == before


def test_placing_a_hold_is_idempotent(app, api):
    """Does the same key ten times reserve once and answer the same?"""
    code = make_card(app, "100.00")
    answers = [hold(api, code, "40.00", key="shop-order-7") for _ in range(10)]
    assert {a.status_code for a in answers} == {201} and len({a.get_data() for a in answers}) == 1
    assert api.lookup(code).json["available"] == "60.00"
    conflict = hold(api, code, "41.00", key="shop-order-7")
    assert conflict.status_code == 422 and conflict.json["code"] == "idempotency_conflict"


# --- Capturing and releasing -----------------------------------------------------------------


def test_a_hold_captured_for_less_pays_the_merchant_and_releases_the_rest(app, api):
    code = make_card(app, "100.00")
    hold_id = hold(api, code, "40.00").json["id"]
    response = api.post(f"/holds/{hold_id}/capture", {"amount": "32.50"})
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["state"], body["amount"], body["captured"]) == ("captured", "40.00", "32.50")
    assert (body["card"]["balance"], body["card"]["held"], body["card"]["available"]) == ("67.50", "0.00", "67.50")
    assert body["transaction"]["kind"] == "capture" and body["transaction"]["amount"] == "7.50"
    with app.app_context():
        from portal.ledger import balance_of, settlement_account
        from tests.factories import merchant_by_slug

        cafe = merchant_by_slug("corner-cafe")
        assert balance_of(db.session, settlement_account(db.session, cafe.id, "USD").id) == 3250
    ledger_is_sound(app)


def test_a_capture_without_an_amount_takes_the_whole_hold(app, api):
    code = make_card(app, "100.00")
    hold_id = hold(api, code, "40.00").json["id"]
    body = api.post(f"/holds/{hold_id}/capture").json
    assert (body["captured"], body["card"]["balance"], body["card"]["available"]) == ("40.00", "60.00", "60.00")


def test_a_release_gives_the_whole_hold_back(app, api):
    code = make_card(app, "100.00")
    hold_id = hold(api, code, "40.00").json["id"]
    body = api.post(f"/holds/{hold_id}/release").json
    assert (body["state"], body["captured"]) == ("released", None)
    assert (body["card"]["balance"], body["card"]["held"], body["card"]["available"]) == ("100.00", "0.00", "100.00")
    assert body["transaction"]["kind"] == "release"
    ledger_is_sound(app)


@pytest.mark.parametrize(
    ("first", "then", "detail"),
    [
        ("capture", "capture", "This hold was already captured (40.00 USD)"),
        ("capture", "release", "This hold was already captured (40.00 USD)"),
        ("release", "capture", "This hold was already released"),
        ("release", "release", "This hold was already released"),
    ],
)
def test_a_hold_that_is_not_open_cannot_be_finished_again(app, api, first, then, detail):
    code = make_card(app, "100.00")
    hold_id = hold(api, code, "40.00").json["id"]
    assert api.post(f"/holds/{hold_id}/{first}").status_code == 200
    before = state(app)
    response = api.post(f"/holds/{hold_id}/{then}")
    assert response.status_code == 409 and response.json["code"] == "hold_not_open"
    assert response.json["detail"] == detail
    assert state(app) == before


def test_capturing_more_than_the_hold_or_in_fractions_the_currency_lacks_is_refused(app, api):
    code = make_card(app, "100.00")
    hold_id = hold(api, code, "40.00").json["id"]
    before = state(app)
    over = api.post(f"/holds/{hold_id}/capture", {"amount": "40.01"})
    assert over.status_code == 422 and over.json["detail"] == "This hold is for 40.00 USD; capture at most that"
    assert over.json["field"] == "amount"
    fraction = api.post(f"/holds/{hold_id}/capture", {"amount": "1.001"})
    assert fraction.status_code == 422 and fraction.json["detail"] == "USD amounts have at most 2 decimal places"
    assert state(app) == before


def test_a_frozen_card_cannot_have_its_hold_captured_but_can_have_it_released(app, api):
    code = make_card(app, "100.00")
    hold_id = hold(api, code, "40.00").json["id"]
    card_id = card_row(app, code).id
    with app.app_context():
        operations.freeze(db.session, db.session.get(GiftCard, card_id), actor=ADMIN, reason="test")
        db.session.commit()
    before = state(app)
    refused = api.post(f"/holds/{hold_id}/capture")
    assert refused.status_code == 422 and refused.json["code"] == "frozen"
    assert state(app) == before
    assert api.post(f"/holds/{hold_id}/release").json["card"]["available"] == "100.00"
    ledger_is_sound(app)


def test_only_the_store_that_placed_a_hold_or_an_admin_may_finish_it(app, api, people):
    """Is another store's hold as unknown to staff as a number never used, while an admin may release it?"""
    from portal.auth.users import create_user
    from tests.conftest import PASSWORD, _token_for
    from tests.factories import merchant_by_slug

    with app.app_context():
        create_user(db.session, "nook@example.com", PASSWORD, role="merchant", merchant=merchant_by_slug("book-nook"))
        db.session.commit()
    api.tokens["nook"] = _token_for(app, "nook@example.com")
    code = make_card(app, "100.00")
    hold_id = hold(api, code, "40.00").json["id"]
    before = state(app)
    for action in ("capture", "release"):
        response = api.post(f"/holds/{hold_id}/{action}", role="nook")
        assert response.status_code == 404 and response.json["detail"] == "No hold has that number"
    assert api.get(f"/holds/{hold_id}", role="nook").status_code == 404
    assert api.post(f"/holds/{hold_id}/capture", role="customer").status_code == 403
    assert state(app) == before
    assert api.get(f"/holds/{hold_id}").json["state"] == "open"
    assert api.post(f"/holds/{hold_id}/release", role="admin").json["state"] == "released"


def test_capturing_is_idempotent_and_a_second_key_is_refused(app, api):
    code = make_card(app, "100.00")
    hold_id = hold(api, code, "40.00").json["id"]
    answers = [api.post(f"/holds/{hold_id}/capture", {"amount": "10.00"}, key="cap-1") for _ in range(5)]
    assert {a.status_code for a in answers} == {200} and len({a.get_data() for a in answers}) == 1
    assert api.lookup(code).json["balance"] == "90.00"
    assert api.post(f"/holds/{hold_id}/capture", {"amount": "10.00"}, key="cap-2").status_code == 409


# --- Lapsing ---------------------------------------------------------------------------------


def test_a_lapsed_hold_frees_its_amount_in_the_sweep_and_cannot_be_captured(app, api):
    code = make_card(app, "100.00")
    hold_id = hold(api, code, "40.00", expires_in_hours=1).json["id"]
    kept = hold(api, code, "10.00").json["id"]
    later = utcnow() + timedelta(hours=2)
    assert lapse(app, later) == 1
    assert lapse(app, later) == 0
    shown = api.get(f"/holds/{hold_id}").json
    assert shown["state"] == "lapsed" and shown["transaction"]["kind"] == "lapse"
    assert (shown["card"]["balance"], shown["card"]["held"], shown["card"]["available"]) == ("100.00", "10.00", "90.00")
    before = state(app)
    for action in ("capture", "release"):
        refused = api.post(f"/holds/{hold_id}/{action}")
        assert refused.status_code == 409 and refused.json["code"] == "hold_not_open"
        assert refused.json["detail"].startswith("This hold lapsed on ")
        assert refused.json["detail"].endswith("; nothing is held any more")
    assert state(app) == before
    assert api.get(f"/holds/{kept}").json["state"] == "open"
    ledger_is_sound(app)


def test_portal_sweep_holds_lapses_what_is_due_and_a_second_run_finds_nothing(app, api, runner):
    code = make_card(app, "100.00")
    hold_id = hold(api, code, "40.00").json["id"]
    with app.app_context():
        db.session.get(Hold, hold_id).expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    first = runner.invoke(args=["sweep", "holds"])
    assert first.exit_code == 0 and "Holds: 1 lapsed, their amounts back on their cards" in first.output
    assert "Holds: 0 lapsed" in runner.invoke(args=["sweep", "holds"]).output
    assert api.lookup(code).json["available"] == "100.00"
    assert runner.invoke(args=["ledger", "verify"]).exit_code == 0


def test_a_hold_past_its_time_cannot_be_captured_before_the_sweep_but_can_be_released(app, api):
    code = make_card(app, "100.00")
    hold_id = hold(api, code, "40.00").json["id"]
    with app.app_context():
        db.session.get(Hold, hold_id).expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    before = state(app)
    refused = api.post(f"/holds/{hold_id}/capture").json
    assert refused["code"] == "hold_not_open" and refused["detail"].endswith(", so it can no longer be captured")
    assert state(app) == before
    assert api.post(f"/holds/{hold_id}/release").json["card"]["available"] == "100.00"


def test_a_hold_on_a_card_closed_since_goes_to_breakage_and_the_ledger_still_verifies(app, api):
    """When a card is cancelled with a hold open, does the hold's lapse empty into breakage, not the card?"""
    code = make_card(app, "100.00")
    hold_id = hold(api, code, "40.00", expires_in_hours=1).json["id"]
    card_id = card_row(app, code).id
    with app.app_context():
        operations.cancel(db.session, db.session.get(GiftCard, card_id), actor=ADMIN, reason="fraud",
                          idempotency_key="cancel-1")
        db.session.commit()
    ledger_is_sound(app)
    assert lapse(app, utcnow() + timedelta(hours=2)) == 1
    assert api.get(f"/holds/{hold_id}", role="admin").json["card"]["balance"] == "0.00"
    ledger_is_sound(app)


def test_the_ledger_verifies_after_holds_in_every_state_and_each_wrote_its_event(app, api):
    code = make_card(app, "100.00")
    ids = [hold(api, code, "10.00", expires_in_hours=1).json["id"] for _ in range(4)]
    api.post(f"/holds/{ids[0]}/capture", {"amount": "4.00"})
    api.post(f"/holds/{ids[1]}/release")
    lapse(app, utcnow() + timedelta(hours=2))
    with app.app_context():
        states = {row.state for row in db.session.scalars(db.select(Hold))}
        types = set(db.session.scalars(db.select(Event.type).where(Event.type.like("hold.%"))))
    assert states == {"captured", "released", "lapsed"}
    assert types == {"hold.placed", "hold.captured", "hold.released", "hold.lapsed"}
    assert api.lookup(code).json["balance"] == "96.00"
    ledger_is_sound(app)


def test_the_ledger_check_names_a_holds_account_out_of_step_with_its_open_holds(app, api):
    code = make_card(app, "100.00")
    hold_id = hold(api, code, "40.00").json["id"]
    with app.app_context():
        db.session.get(Hold, hold_id).state = "released"
        db.session.commit()
        problems = verify(db.session)
    card_id = card_row(app, code).id
    assert problems == [f"holds:{card_id}: holds 4000 but the card's open holds add up to 0"]


# --- The document ----------------------------------------------------------------------------

HOLD_PATHS = ("/holds", "/holds/{hold_id}", "/holds/{hold_id}/capture", "/holds/{hold_id}/release")


def put_in(app, card_id: int, status: str) -> None:
    """Freeze or cancel the card as an admin would, or mark it expired as the sweep would."""
    with app.app_context():
        card = db.session.get(GiftCard, card_id)
        if status == "cancelled":
            operations.cancel(db.session, card, actor=ADMIN, reason="test", idempotency_key=f"cancel-{card_id}")
        elif status == "frozen":
            operations.freeze(db.session, card, actor=ADMIN, reason="test")
        else:
            card.status = status
        db.session.commit()


def held_card(app, c, *, status: str | None = None) -> int:
    """A 100.00 card with a 10.00 hold placed through the API, then put in ``status``; the hold's id."""
    code = make_card(app, "100.00")
    hold_id = c.call("POST", "/holds", {"code": code, "amount": "10.00"}).json["id"]
    if status is not None:
        put_in(app, card_row(app, code).id, status)
    return hold_id


def closed_code(app, status: str) -> str:
    code = make_card(app, "5.00")
    put_in(app, card_row(app, code).id, status)
    return code


def test_every_documented_answer_of_the_holds_api_is_given(app, contract, monkeypatch):
    """The document's statuses and codes for /holds, each provoked (and checked against the document) once."""
    from portal.cards.codes import generate_card_code

    c = contract
    code = make_card(app, "100.00")
    for card_code, body in (
        (code, {"amount": "10.00"}), (generate_card_code(), {"amount": "1.00"}), (code, {"amount": "1000.00"}),
        (code, {"amount": "1.00", "currency": "EUR"}), (make_card(app, merchant="book-nook"), {"amount": "1.00"}),
        (closed_code(app, "frozen"), {"amount": "1.00"}), (closed_code(app, "cancelled"), {"amount": "1.00"}),
        (make_card(app, expired=True), {"amount": "1.00"}), (code, {"amount": "1.00", "expires_in_hours": 0}),
    ):
        c.call("POST", "/holds", {"code": card_code, **body})
    for role in ("customer", None):
        c.call("POST", "/holds", {"code": code, "amount": "1.00"}, role=role)
    open_hold = held_card(app, c)
    for template in HOLD_PATHS[1:]:
        c.call("GET" if template == "/holds/{hold_id}" else "POST", template, hold_id=open_hold + 1000)
        for role in ("customer", None):
            c.call("GET" if template == "/holds/{hold_id}" else "POST", template, role=role, hold_id=open_hold)
    c.call("GET", "/holds/{hold_id}", hold_id=open_hold)
    c.call("POST", "/holds/{hold_id}/capture", {"amount": "10.01"}, hold_id=open_hold)
    for status in ("frozen", "cancelled", "expired"):
        c.call("POST", "/holds/{hold_id}/capture", hold_id=held_card(app, c, status=status))
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/holds", {"code": code, "amount": "1.00"}, {"code": code, "amount": "2.00"}, "merchant", monkeypatch,
    )
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/holds/{hold_id}/capture", {"amount": "1.00"}, {"amount": "2.00"}, "merchant", monkeypatch,
        hold_id=open_hold,
    )
    released = held_card(app, c)
    c.writes_refuse_without_a_key_on_conflict_and_in_progress(
        "POST", "/holds/{hold_id}/release", None, None, "merchant", monkeypatch,
        other_params={"hold_id": held_card(app, c)}, hold_id=released,
    )
    for action in ("capture", "release"):
        assert c.call("POST", f"/holds/{{hold_id}}/{action}", hold_id=released).json["code"] == "hold_not_open"
    c.past_the_rate_limit(*HOLD_PATHS)
    c.with_a_nul_character(*HOLD_PATHS)
    c.with_an_unknown_query_parameter(*HOLD_PATHS)
    assert c.documented(*HOLD_PATHS) - c.seen == set()
    assert c.documented_codes(*HOLD_PATHS) - c.answered == set(), "a documented code no test provoked"


def test_a_holds_transactions_cannot_be_undone_only_the_hold_ended(app, api):
    code = make_card(app, "100.00")
    placed = hold(api, code, "40.00").json
    captured = api.post(f"/holds/{placed['id']}/capture", {"amount": "30.00"}).json
    before = state(app)
    for transaction in (placed["transaction"], captured["transaction"]):
        response = api.post(f"/transactions/{transaction['id']}/reverse", {"reason": "Wrong card"}, role="admin")
        assert response.status_code == 422
        assert response.json["detail"] == "A hold ends by being captured, released or lapsing, not by undo"
    assert state(app) == before


def test_a_captured_hold_counts_as_a_payment_in_the_stores_settlement(app, api, till):
    code = make_card(app, "100.00")
    hold_id = hold(api, code, "40.00").json["id"]
    api.post(f"/holds/{hold_id}/capture", {"amount": "32.50"})
    page = text(till.client.get("/till/reports").get_data(as_text=True))
    assert "Owed for this period: 32.50 USD" in page and "Total 1 32.50 USD" in page
