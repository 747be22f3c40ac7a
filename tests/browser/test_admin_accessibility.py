"""An axe-core audit of every admin page, on a desktop screen, including forms in their error state."""

from __future__ import annotations

import re
import uuid

import pytest

from portal.campaigns.definitions import create_campaign, read_spec
from portal.campaigns.generation import generate_batch, request_generation
from portal.cards import operations
from portal.extensions import db
from portal.ledger import Actor, audit
from portal.models import GiftCard, User
from portal.money import Money
from portal.networks import add_merchant, create_network
from portal.services import services
from portal.tokens import create_token
from tests.browser.axe import audited_page, serious_violations
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def audited(browser, live_server):
    with audited_page(browser, live_server, viewport={"width": 1280, "height": 800}) as page:
        yield page


def seed(app, people) -> dict:
    """A campaign of each kind, cards, an audit trail: something on every admin page."""
    with app.app_context():
        session, vault = db.session, services().vault
        admin = session.scalar(db.select(User).where(User.email == people["admin"]))
        actor = Actor(user_id=admin.id)
        coupon = create_campaign(session, vault, read_spec(session, {
            "name": "Coupon", "kind": "coupon", "discount_type": "percent", "discount_value": "10",
            "code_mode": "vanity", "code": "AUDIT10", "max_uses": "5"}), actor=actor)
        cards = create_campaign(session, vault, read_spec(session, {
            "name": "Cards", "kind": "gift_card", "currency": "USD", "value": "10.00"}), actor=actor)
        job = request_generation(session, cards, 3, actor=actor)
        generate_batch(session, vault, job, 3)
        job.status = "finished"
        issued = operations.issue_card(session, vault, amount=Money.parse("5.00", "USD"), actor=actor,
                                       idempotency_key=str(uuid.uuid4()))
        audit(session, actor, "card.frozen", f"card:{issued.card.id}", "Testing")
        customer = session.scalar(db.select(User.id).where(User.role == "customer"))
        create_token(session, session.get(User, customer), "Budget app", expires_in_days=30)  # the user page lists it
        mall = create_network(session, "Riverside Mall", actor=actor)
        add_merchant(session, mall, "corner-cafe", actor=actor)
        session.commit()
        card_id = session.scalar(db.select(GiftCard.id).order_by(GiftCard.id))
        return {"coupon": coupon.id, "cards": cards.id, "card": card_id, "customer": customer, "job": job.id,
                "network": mall.id}


def test_admin_pages_have_no_serious_accessibility_violations(app, audited, people):
    """Does axe find nothing serious or critical on each admin page and its error states?"""
    ids = seed(app, people)
    page = audited
    page.goto("/signin")
    page.get_by_label("E-mail address").fill(people["admin"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    found = {}
    paths = [
        "/admin/", "/admin/campaigns", "/admin/campaigns/new", f"/admin/campaigns/{ids['coupon']}",
        f"/admin/campaigns/{ids['cards']}", f"/admin/campaigns/{ids['coupon']}/edit",
        f"/admin/campaigns/{ids['cards']}/jobs/{ids['job']}", "/admin/cards", f"/admin/cards?by=campaign&q={ids['cards']}",
        f"/admin/cards/{ids['card']}", "/admin/merchants", "/admin/merchants/corner-cafe", "/admin/users",
        f"/admin/users/{ids['customer']}", "/admin/audit", "/admin/networks", f"/admin/networks/{ids['network']}",
        "/admin/programme",
    ]
    for path in paths:
        page.goto(path)
        found[path] = serious_violations(page)
    # Forms in their error state.
    page.goto("/admin/campaigns/new?kind=coupon")  # the kind chosen first, then its rules
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_selector(".error")
    found["/admin/campaigns/new (errors)"] = serious_violations(page)
    page.goto(f"/admin/cards/{ids['card']}")
    page.get_by_role("button", name="Freeze card").click()
    page.wait_for_selector(".error")
    found["card freeze (error)"] = serious_violations(page)
    page.goto("/admin/cards")
    page.get_by_label("Search for").fill("GC-0000")
    page.get_by_role("button", name="Find").click()
    page.wait_for_selector(".error")
    found["/admin/cards (error)"] = serious_violations(page)
    assert {path: problems for path, problems in found.items() if problems} == {}
