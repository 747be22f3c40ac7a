"""Admin card look-up and actions: each needs a reason, each leaves an audit row, a refusal changes nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from portal.cards import operations
from portal.cards.expiry import expire_card
from portal.extensions import db
from portal.ledger import Actor, verify
from portal.models import Account, AuditEvent, GiftCard, Transaction, User, utcnow
from portal.money import Money
from portal.services import services
from tests.conftest import submit


@pytest.fixture
def card(app, people):
    """A 20.00 USD card owned by the customer: (id, full code)."""
    with app.app_context():
        owner = db.session.scalar(db.select(User).where(User.email == people["customer"]))
        issued = operations.issue_card(
            db.session, services().vault, amount=Money.parse("20.00", "USD"), actor=Actor(),
            idempotency_key=str(uuid.uuid4()), owner=owner,
        )
        db.session.commit()
        return issued.card.id, issued.code


def status(app, card_id) -> tuple[str, int]:
    with app.app_context():
        found = db.session.get(GiftCard, card_id)
        return found.status, found.account.balance


def audit_rows(app, action=None) -> list[AuditEvent]:
    with app.app_context():
        query = db.select(AuditEvent).order_by(AuditEvent.id)
        if action:
            query = query.where(AuditEvent.action == action)
        rows = db.session.scalars(query).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def test_an_admin_finds_a_card_by_code_in_any_spelling(admin, card):
    card_id, code = card
    response = submit(admin, "/admin/cards", {"by": "code", "q": code.lower().replace("-", " ")})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and f"/admin/cards/{card_id}" in html
    assert code not in html and code[-6:] in html  # masked


def test_a_looked_up_code_is_neither_in_the_address_nor_on_the_page(admin, card):
    """Does the look-up keep the code out of the URL (history, access logs) and out of the answer,
    the search field included, with or without htmx?"""
    card_id, code = card
    spellings = {code, code.lower(), code.replace("-", ""), code.replace("-", "").lower()}
    for headers in ({}, {"HX-Request": "true"}):
        response = submit(admin, "/admin/cards", {"by": "code", "q": code}, page="/admin/cards", headers=headers)
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and f"/admin/cards/{card_id}" in html and code[-6:] in html
        assert response.request.url.endswith("/admin/cards") and not response.request.query_string
        assert not any(spelling in html for spelling in spellings)
        assert 'name="q" value=""' in html
    page = admin.get("/admin/cards").get_data(as_text=True)
    assert 'method="post"' in page and 'hx-post="/admin/cards"' in page and 'name="csrf_token"' in page


def test_a_code_in_the_address_is_refused_and_not_echoed(admin, card):
    """Does a code typed into the address bar (an old bookmark) find nothing, say why, and not show the code?"""
    _, code = card
    response = admin.get("/admin/cards", query_string={"by": "code", "q": code})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "Type the code into the form and press Find" in html
    assert code not in html and "/admin/cards/" not in html


def test_the_look_up_needs_the_forms_csrf_token(admin, card):
    _, code = card
    refused = admin.post("/admin/cards", data={"by": "code", "q": code})
    assert refused.status_code == 400 and code not in refused.get_data(as_text=True)


def test_find_by_owner_email_and_by_campaign(app, admin, card):
    card_id, _ = card
    for search in (lambda data: admin.get("/admin/cards", query_string=data),
                   lambda data: submit(admin, "/admin/cards", data, page="/admin/cards")):
        html = search({"by": "email", "q": "CUSTOMER@"}).get_data(as_text=True)
        assert f"/admin/cards/{card_id}" in html and "customer@example.com" in html
        refused = search({"by": "campaign", "q": "999"})
        assert refused.status_code == 422 and "No campaign has that number or name" in refused.get_data(as_text=True)


def test_a_typo_and_an_unknown_code_are_explained(admin, card):
    _, code = card
    typo = code[:-1] + ("A" if code[-1] != "A" else "B")
    response = submit(admin, "/admin/cards", {"by": "code", "q": typo})
    assert response.status_code == 422 and "That code has a typo" in response.get_data(as_text=True)
    fragment = submit(admin, "/admin/cards", {"by": "code", "q": "GC-0000-0000-0000-0000-0"}, headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert fragment.status_code in (404, 422) and html.lstrip().startswith('<div id="card-search"')
    assert '<section id="card-results"' in html and "<html" not in html


def test_freezing_needs_a_reason_and_changes_nothing_without_one(app, admin, card):
    card_id, _ = card
    response = submit(admin, f"/admin/cards/{card_id}/freeze", {"freeze-reason": "  "}, page=f"/admin/cards/{card_id}")
    assert response.status_code == 422 and "Please give a reason" in response.get_data(as_text=True)
    assert status(app, card_id) == ("active", 2000) and audit_rows(app) == []


def test_freeze_and_unfreeze_are_audited_with_the_reason(app, admin, card, people):
    card_id, _ = card
    page = f"/admin/cards/{card_id}"
    response = submit(admin, f"/admin/cards/{card_id}/freeze", {"freeze-reason": "Reported stolen"}, page=page)
    assert response.status_code == 303
    assert status(app, card_id)[0] == "frozen"
    assert "The card is frozen." in admin.get(page).get_data(as_text=True)
    submit(admin, f"/admin/cards/{card_id}/unfreeze", {"unfreeze-reason": "Found again"}, page=page)
    assert status(app, card_id)[0] == "active"
    rows = audit_rows(app)
    assert [(r.action, r.target, r.reason) for r in rows] == [
        ("card.frozen", f"card:{card_id}", "Reported stolen"), ("card.unfrozen", f"card:{card_id}", "Found again"),
    ]
    with app.app_context():
        admin_id = db.session.scalar(db.select(User.id).where(User.email == people["admin"]))
    assert {r.actor_id for r in rows} == {admin_id}


def test_an_htmx_refusal_answers_the_panel_with_its_message(admin, card):
    card_id, _ = card
    response = submit(admin, f"/admin/cards/{card_id}/freeze", {"freeze-reason": ""}, page=f"/admin/cards/{card_id}",
                      headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and html.lstrip().startswith('<div id="card-panel">')
    done = submit(admin, f"/admin/cards/{card_id}/freeze", {"freeze-reason": "Fraud check"}, page=f"/admin/cards/{card_id}",
                  headers={"HX-Request": "true"})
    assert done.status_code == 204 and done.headers["HX-Redirect"] == f"/admin/cards/{card_id}"


def test_adjust_up_and_down_with_a_reason(app, admin, card):
    card_id, _ = card
    page = f"/admin/cards/{card_id}"
    form = {"adjust-direction": "remove", "adjust-amount": "5.00", "adjust-reason": "Double load",
            "adjust-idempotency_key": uuid.uuid4().hex}
    assert submit(admin, f"/admin/cards/{card_id}/adjust", form, page=page).status_code == 303
    # The same form sent twice (a double click) changes the card once.
    submit(admin, f"/admin/cards/{card_id}/adjust", form, page=page)
    assert status(app, card_id) == ("active", 1500)
    too_much = {**form, "adjust-amount": "50.00", "adjust-idempotency_key": uuid.uuid4().hex}
    refused = submit(admin, f"/admin/cards/{card_id}/adjust", too_much, page=page)
    assert refused.status_code == 422 and "This card holds 15.00 USD; it cannot go below zero" in refused.get_data(as_text=True)
    no_reason = {**form, "adjust-reason": "", "adjust-idempotency_key": uuid.uuid4().hex}
    assert submit(admin, f"/admin/cards/{card_id}/adjust", no_reason, page=page).status_code == 422
    assert status(app, card_id) == ("active", 1500)
    assert [r.detail["delta"] for r in audit_rows(app, "card.adjusted")] == [-500]
    with app.app_context():
        assert verify(db.session) == []
    log = admin.get("/admin/audit", query_string={"action": "card.adjusted"}).get_data(as_text=True)
    assert "change: -5.00 USD" in log and "delta" not in log


def test_cancel_moves_the_balance_to_breakage(app, admin, card):
    card_id, _ = card
    page = f"/admin/cards/{card_id}"
    refused = submit(admin, f"/admin/cards/{card_id}/cancel", {"cancel-reason": "", "cancel-idempotency_key": uuid.uuid4().hex}, page=page)
    assert refused.status_code == 422 and status(app, card_id) == ("active", 2000)
    unticked = submit(admin, f"/admin/cards/{card_id}/cancel",
                      {"cancel-reason": "Customer asked", "cancel-idempotency_key": uuid.uuid4().hex}, page=page)
    assert unticked.status_code == 422 and "Tick the box to confirm" in unticked.get_data(as_text=True)
    assert status(app, card_id) == ("active", 2000)
    response = submit(admin, f"/admin/cards/{card_id}/cancel",
                      {"cancel-reason": "Customer asked", "cancel-confirm": "y",
                       "cancel-idempotency_key": uuid.uuid4().hex}, page=page)
    assert response.status_code == 303 and status(app, card_id) == ("cancelled", 0)
    with app.app_context():
        assert db.session.scalar(db.select(Account.balance).where(Account.key == "system:breakage:USD")) == 2000
    assert audit_rows(app, "card.cancelled")[0].reason == "Customer asked"


def test_reinstate_an_expired_card_with_a_new_date(app, admin, card):
    card_id, _ = card
    with app.app_context():
        found = db.session.get(GiftCard, card_id)
        found.expires_at = utcnow() - timedelta(days=1)
        expire_card(db.session, found)
        db.session.commit()
    assert status(app, card_id) == ("expired", 0)
    page = f"/admin/cards/{card_id}"
    html = admin.get(page).get_data(as_text=True)
    assert "Reinstate" in html and "Freeze card" not in html
    day = (utcnow() + timedelta(days=30)).date().isoformat()
    refused = submit(admin, f"/admin/cards/{card_id}/reinstate", {"reinstate-expires_on": day, "reinstate-reason": ""}, page=page)
    assert refused.status_code == 422 and status(app, card_id) == ("expired", 0)
    past = submit(admin, f"/admin/cards/{card_id}/reinstate",
                  {"reinstate-expires_on": "2020-01-01", "reinstate-reason": "Goodwill"}, page=page)
    assert past.status_code == 422 and "Choose a new expiry date in the future" in past.get_data(as_text=True)
    done = submit(admin, f"/admin/cards/{card_id}/reinstate", {"reinstate-expires_on": day, "reinstate-reason": "Goodwill"}, page=page)
    assert done.status_code == 303 and status(app, card_id) == ("active", 2000)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Transaction.id)).where(Transaction.kind == "reinstate")) == 1
    assert audit_rows(app, "card.reinstated")[0].reason == "Goodwill"


def test_staff_and_customers_cannot_touch_cards_here(client, auth, people, card):
    card_id, _ = card
    for role in ("merchant", "customer"):
        auth.login(people[role])
        assert client.get(f"/admin/cards/{card_id}").status_code == 403
        assert submit(client, f"/admin/cards/{card_id}/freeze", {"freeze-reason": "x"}, page="/signin").status_code == 403
        auth.logout()
