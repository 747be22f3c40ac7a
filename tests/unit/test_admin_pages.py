"""The admin overview, merchants and staff, users and roles, and the audit log with its filters."""

from __future__ import annotations

import uuid

from portal.cards import operations
from portal.extensions import db
from portal.ledger import Actor, audit
from portal.models import AuditEvent, Merchant, SecurityEvent, User
from portal.models.campaigns import Campaign, CampaignJob
from portal.money import Money
from portal.services import services
from portal.wallet import credit_wallet
from tests.conftest import AuthActions, submit


def user_id(app, email) -> int:
    with app.app_context():
        return db.session.scalar(db.select(User.id).where(User.email == email))


def test_the_overview_shows_liability_flows_chart_events_and_failed_jobs(app, admin, people):
    with app.app_context():
        customer = db.session.scalar(db.select(User).where(User.email == people["customer"]))
        issued = operations.issue_card(db.session, services().vault, amount=Money.parse("30.00", "USD"), actor=Actor(),
                                       idempotency_key="i1", owner=customer)
        operations.redeem(db.session, issued.card, Money.parse("12.00", "USD"), actor=Actor(), idempotency_key="r1", merchant=None)
        credit_wallet(db.session, customer, Money.parse("5.00", "USD"), actor=Actor(), idempotency_key="w1", reason="Sorry")
        db.session.add(SecurityEvent(kind="code_guessing_locked", subject="ip:203.0.113.9", detail="POST /api/v1/coupons/validate"))
        campaign = Campaign(name="Broken", kind="credit", currency="USD", value=100, code_mode="random")
        db.session.add(campaign)
        db.session.flush()
        db.session.add(CampaignJob(campaign_id=campaign.id, requested=10, done=4, status="failed", error="RuntimeError: disk full"))
        db.session.commit()
    html = admin.get("/admin/").get_data(as_text=True)
    assert "23.00 USD" in html  # 18.00 on the card + 5.00 in the wallet
    assert "Cards 18.00 USD · Wallets 5.00 USD" in html
    assert "30.00 USD" in html and "12.00 USD" in html and "(40%)" in html
    assert '<svg viewBox="0 0 720 200" role="img"' in html and "1 card payments, 0 code uses" in html
    assert "ip:203.0.113.9" in html
    assert "RuntimeError: disk full" in html and "(4 of 10)" in html


def test_an_empty_programme_has_a_calm_overview(admin):
    html = admin.get("/admin/").get_data(as_text=True)
    assert "No card or wallet holds any value yet." in html and "No job has failed." in html


def test_an_admin_adds_a_merchant_and_its_staff(app, admin):
    response = submit(admin, "/admin/merchants", {"name": "Book Nook", "slug": "book-nook", "currency": "EUR",
                                                  "loops_per_unit": "5", "sells_network_cards": "1"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/merchants/book-nook"
    bad = submit(admin, "/admin/merchants", {"name": "Again", "slug": "book-nook", "currency": "EUR", "loops_per_unit": "5"})
    assert bad.status_code == 422 and "A merchant with the slug book-nook already exists" in bad.get_data(as_text=True)
    staff = submit(admin, "/admin/merchants/book-nook", {"email": "bea@example.com", "name": "Bea", "password": "a long password"})
    assert staff.status_code == 303
    short = submit(admin, "/admin/merchants/book-nook", {"email": "bo@example.com", "name": "Bo", "password": "short"})
    assert short.status_code == 422 and "Use at least 10 characters" in short.get_data(as_text=True)
    page = admin.get("/admin/merchants/book-nook").get_data(as_text=True)
    assert "bea@example.com" in page and "bo@example.com" not in page
    with app.app_context():
        bea = db.session.scalar(db.select(User).where(User.email == "bea@example.com"))
        assert bea.role == "merchant" and bea.merchant.slug == "book-nook"
        assert db.session.scalar(db.select(Merchant.sells_network_cards).where(Merchant.slug == "book-nook")) is True
    client = app.test_client()
    assert AuthActions(client).login("bea@example.com", "a long password").headers["Location"] == "/till/"


def test_changing_a_role_needs_a_reason_is_audited_and_ends_other_sessions(app, admin, people):
    customer = user_id(app, people["customer"])
    other = app.test_client()
    AuthActions(other).login(people["customer"])
    assert other.get("/wallet/").status_code == 200
    refused = submit(admin, f"/admin/users/{customer}", {"role": "admin", "merchant": "", "reason": ""})
    assert refused.status_code == 422 and "Please give a reason" in refused.get_data(as_text=True)
    no_merchant = submit(admin, f"/admin/users/{customer}", {"role": "merchant", "merchant": "", "reason": "New job"})
    assert "Choose the merchant this person works for" in no_merchant.get_data(as_text=True)
    done = submit(admin, f"/admin/users/{customer}", {"role": "merchant", "merchant": "corner-cafe", "reason": "Hired"})
    assert done.status_code == 303
    with app.app_context():
        changed = db.session.get(User, customer)
        assert (changed.role, changed.merchant.slug) == ("merchant", "corner-cafe")
        event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "user.role_changed"))
        assert (event.reason, event.detail["role_from"], event.detail["role_to"]) == ("Hired", "customer", "merchant")
    assert other.get("/wallet/").status_code == 302  # their old session ended


def test_an_admin_cannot_take_away_their_own_admin_role(app, admin, people):
    me = user_id(app, people["admin"])
    response = submit(admin, f"/admin/users/{me}", {"role": "customer", "merchant": "", "reason": "Oops"})
    assert response.status_code == 422 and "You cannot take away your own admin role" in response.get_data(as_text=True)


def test_the_users_list_filters_by_role_and_text(admin):
    html = admin.get("/admin/users", query_string={"role": "merchant"}).get_data(as_text=True)
    assert "staff@example.com" in html and "customer@example.com" not in html
    html = admin.get("/admin/users", query_string={"q": "cust"}).get_data(as_text=True)
    assert "customer@example.com" in html and "staff@example.com" not in html


def test_the_audit_log_filters_by_action_actor_target_and_day(app, admin, people):
    with app.app_context():
        ada = db.session.scalar(db.select(User).where(User.email == people["admin"]))
        audit(db.session, Actor(user_id=ada.id), "card.frozen", "card:7", "Stolen")
        audit(db.session, Actor(), "card.expired", "card:8", "")
        audit(db.session, Actor(user_id=ada.id), "campaign.created", "campaign:3", "")
        db.session.commit()
    everything = admin.get("/admin/audit").get_data(as_text=True)
    assert "card:7" in everything and "card:8" in everything and "campaign:3" in everything
    frozen = admin.get("/admin/audit", query_string={"action": "card.frozen"}).get_data(as_text=True)
    assert "card:7" in frozen and "card:8" not in frozen and "Stolen" in frozen
    by_ada = admin.get("/admin/audit", query_string={"actor": "admin@"}).get_data(as_text=True)
    assert "card:7" in by_ada and "card:8" not in by_ada
    cards = admin.get("/admin/audit", query_string={"target": "card:"}, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert cards.lstrip().startswith('<section id="audit-events"') and "campaign:3" not in cards
    old = admin.get("/admin/audit", query_string={"until": "2000-01-01"}).get_data(as_text=True)
    assert "No events match." in old
    bad = admin.get("/admin/audit", query_string={"since": "yesterday"})
    assert bad.status_code == 422 and "Give a date like 2027-03-31" in bad.get_data(as_text=True)


def test_every_admin_page_answers(app, admin):
    """A walk over the console's pages: each renders for an admin with its section marked current."""
    with app.app_context():
        customer = db.session.scalar(db.select(User.id).where(User.role == "customer"))
    for url, current in [("/admin/", "Overview"), ("/admin/campaigns", "Campaigns"), ("/admin/campaigns/new", "Campaigns"),
                         ("/admin/cards", "Cards"), ("/admin/merchants", "Merchants"), ("/admin/merchants/corner-cafe", "Merchants"),
                         ("/admin/users", "Users"), (f"/admin/users/{customer}", "Users"), ("/admin/audit", "Audit log")]:
        response = admin.get(url)
        assert response.status_code == 200, url
        assert f'aria-current="page">{current}</a>' in response.get_data(as_text=True), url
    assert admin.get("/admin/merchants/nowhere").status_code == 404
    assert admin.get("/admin/campaigns/999").status_code == 404
    assert admin.get(f"/admin/cards/{uuid.uuid4().int % 1000 + 1000}").status_code == 404
