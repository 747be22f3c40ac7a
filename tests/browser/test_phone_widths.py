"""Every page of every audience fits a 390 px phone without sideways scrolling (issue 26).

The walk comes from the app's URL map, so a page added later is walked too (or the test names the
path parameter it cannot fill). Pages are seeded with the demo data plus till sales, webhooks, a
campaign job and an API token, so their tables have rows.
"""

from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa

from portal.cards.holds import place_hold
from portal.cards.operations import redeem
from portal.demo import DEMO_PASSWORD, load_demo
from portal.events.catalogue import EVENT_TYPES
from portal.events.endpoints import create_endpoint
from portal.extensions import db
from portal.ledger import Actor
from portal.models import ApiToken, Campaign, GiftCard, Merchant, Transaction, User
from portal.models.campaigns import CampaignJob
from portal.models.events import WebhookEndpoint
from portal.models.gifts import GiftSubscription
from portal.models.networks import Network
from portal.models.orders import Order
from portal.money import Money
from portal.networks import add_merchant, create_network
from portal.services import services
from portal.tokens import create_token
from tests.browser.axe import audited_page, serious_violations
from tests.browser.pages import sign_in
from tests.conftest import submit

pytestmark = pytest.mark.browser

PHONE = 390
# Areas of the portal and who opens them; /settings is everyone's signed-in area.
AUDIENCES = {
    "public": (None, ("/",)),
    "customer": ("alice@giftloop.test", ("/wallet/", "/settings/")),
    "merchant": ("staff@corner-cafe.test", ("/till/", "/settings/")),
    "admin": ("admin@giftloop.test", ("/admin/", "/settings/")),
}
PRIVATE_AREAS = ("/wallet/", "/till/", "/admin/", "/settings/", "/api/", "/static/", "/healthz")
PUBLIC_API_PAGES = ("/api/v1/docs",)


def seed(app) -> None:
    """The demo, and what the demo lacks for every table to have rows."""
    with app.app_context():
        vault = services().vault
        list(load_demo(db.session, vault))
        cafe = db.session.scalar(sa.select(Merchant).where(Merchant.slug == "corner-cafe"))
        alice = db.session.scalar(sa.select(User).where(User.email == "alice@giftloop.test"))
        card = db.session.scalar(sa.select(GiftCard).where(GiftCard.owner_id == alice.id, GiftCard.merchant_id.is_(None)))
        for amount in ("1.25", "2.50", "3.75"):
            redeem(db.session, card, Money.parse(amount, "USD"), actor=Actor(merchant_id=cafe.id),
                   idempotency_key=f"phone:{uuid.uuid4()}", merchant=cafe)
        # Its card page and the wallet then show what is held and what is available.
        place_hold(db.session, card, Money.parse("4.50", "USD"), actor=Actor(merchant_id=cafe.id),
                   idempotency_key=f"phone:{uuid.uuid4()}", merchant=cafe)
        for email, merchant_id in (("staff@corner-cafe.test", cafe.id), ("admin@giftloop.test", None)):
            creator = db.session.scalar(sa.select(User).where(User.email == email))
            create_endpoint(db.session, vault, url="https://hooks.example.com/a/rather/long/path/for/giftloop",
                            event_types=list(EVENT_TYPES), merchant_id=merchant_id, actor=Actor(user_id=creator.id),
                            allow_private=False)
        # A network with a long name, for its page and the lists that name it.
        mall = create_network(db.session, "Riverside Mall and Waterfront Shops", actor=Actor())
        add_merchant(db.session, mall, "corner-cafe", actor=Actor())
        campaign = db.session.scalar(sa.select(Campaign).order_by(Campaign.id))
        db.session.add(CampaignJob(campaign_id=campaign.id, kind="generate", requested=10, done=10, status="finished"))
        for user in db.session.scalars(sa.select(User)):
            create_token(db.session, user, "Till integration")
        db.session.commit()
    # A guest's order in the shop, for its order and payment pages.
    ordered = submit(app.test_client(), "/shop", {
        "amount": "25.00", "design": "birthday", "for": "friend", "recipient_name": "Fran",
        "recipient_email": "fran@example.com", "message": "Happy birthday!", "buyer_email": "guest@example.com",
    }, page="/shop")
    assert ordered.status_code == 303, ordered.get_data(as_text=True)


def path_values(app, email: str | None) -> dict[str, object]:
    """A value for each path parameter, as the signed-in person may open it."""
    with app.app_context():
        me = db.session.scalar(sa.select(User).where(User.email == email)) if email else None
        first = lambda query: db.session.scalar(query.limit(1))  # noqa: E731
        cards = sa.select(GiftCard.id).order_by(GiftCard.id)
        if me is not None and me.role == "customer":
            cards = cards.where(GiftCard.owner_id == me.id)
        endpoints = sa.select(WebhookEndpoint.id)
        endpoints = endpoints.where(
            WebhookEndpoint.merchant_id == me.merchant_id if me is not None and me.merchant_id
            else WebhookEndpoint.merchant_id.is_(None))
        return {
            "campaign_id": first(sa.select(Campaign.id).order_by(Campaign.id)),
            "job_id": first(sa.select(CampaignJob.id)),
            "card_id": first(cards),
            "slug": "corner-cafe",
            "user_id": first(sa.select(User.id).where(User.email == "alice@giftloop.test")),
            "endpoint_id": first(endpoints),
            "transaction_id": first(sa.select(Transaction.id).where(Transaction.kind == "redeem")
                                    .order_by(Transaction.id.desc())),
            "gift_id": first(sa.select(GiftSubscription.id)),
            "network_id": first(sa.select(Network.id)),
            "token_id": first(sa.select(ApiToken.id).where(ApiToken.user_id == me.id)) if me else None,
            "reference": first(sa.select(Order.reference)),
            "claim_code": "GL-ABCD-EFGH-JKMN",
            "token": "not-a-real-token",
        }


def pages_of(app, audience: str) -> list[str]:
    """Every GET page under the audience's areas, with its parameters filled in."""
    email, areas = AUDIENCES[audience]
    values = path_values(app, email)
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        public = not rule.rule.startswith(PRIVATE_AREAS) or rule.rule in PUBLIC_API_PAGES
        if audience == "public" and not public or audience != "public" and not rule.rule.startswith(areas):
            continue
        missing = [name for name in rule.arguments if values.get(name) is None]
        assert not missing, f"{rule.rule}: no value for {missing}; add one to path_values"
        with app.test_request_context():
            paths.append(app.url_for(rule.endpoint, **{name: values[name] for name in rule.arguments}))
    return sorted(set(paths))


def overflowing_pages(page, paths: list[str]) -> dict[str, int]:
    """The HTML pages among ``paths`` wider than the phone, with their width."""
    wide = {}
    for path in paths:
        if not page.request.get(path).headers.get("content-type", "").startswith("text/html"):
            continue  # CSV, JSON, the QR code's SVG
        page.goto(path)
        if not page.locator("main").count():
            continue  # an htmx fragment, shown inside its page
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE:
            wide[path] = width
    return wide


@pytest.mark.parametrize("audience", list(AUDIENCES))
def test_every_page_fits_a_phone_without_sideways_scrolling(app, phone, audience):
    """On a 390 px phone, is every page the audience can open at most 390 px wide?"""
    seed(app)
    paths = pages_of(app, audience)
    assert len(paths) >= 3
    email, _ = AUDIENCES[audience]
    if email:
        sign_in(phone, email, password=DEMO_PASSWORD)
    assert overflowing_pages(phone, paths) == {}


def test_the_tills_menu_keeps_each_section_on_one_line_on_a_phone(app, phone):
    """"Sell or top up" wraps onto four lines and "Webhooks" is clipped today; is each link one line?"""
    seed(app)
    sign_in(phone, "staff@corner-cafe.test", password=DEMO_PASSWORD)
    phone.goto("/till/")
    nav = phone.get_by_role("navigation", name="Sections")
    for name in ("Checkout", "Sell or top up", "Activity", "Reports", "Webhooks"):
        box = nav.get_by_role("link", name=name).bounding_box()
        assert box["height"] < 40, f"{name} wraps"
        assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE, f"{name} is clipped"
    assert re.search(r"/till/$", phone.url)


def test_the_tills_totals_and_stacked_rows_stay_inside_their_boxes_on_a_phone(app, phone):
    """Activity at 390 px: does each total fit its tile, and does each row read "Amount: 2.50 USD"?"""
    seed(app)
    sign_in(phone, "staff@corner-cafe.test", password=DEMO_PASSWORD)
    phone.goto("/till/activity")
    tiles = phone.get_by_role("list", name="Totals").get_by_role("listitem")
    assert tiles.count() >= 2
    for tile in tiles.all():
        assert tile.evaluate("t => [...t.children].every(c => c.getBoundingClientRect().right <= t.getBoundingClientRect().right)"), tile.inner_text()
    amount = phone.get_by_role("cell", name="2.50 USD")
    assert amount.evaluate("c => getComputedStyle(c, '::before').content") == '"Amount: "'
    assert amount.bounding_box()["width"] <= PHONE


def test_stacked_tables_and_the_history_page_pass_the_axe_audit_on_a_phone(app, browser, live_server):
    """Stacked rows and the credit and Loops history at 390 px: does axe find nothing serious?"""
    seed(app)
    found = {}
    for email, paths in (("alice@giftloop.test", ("/wallet/", "/wallet/history")),
                         ("staff@corner-cafe.test", ("/till/activity", "/till/reports")),
                         ("admin@giftloop.test", ("/admin/", "/admin/audit", "/admin/cards"))):
        with audited_page(browser, live_server, viewport={"width": PHONE, "height": 844}, is_mobile=True) as page:
            sign_in(page, email, password=DEMO_PASSWORD)
            for path in paths:
                page.goto(path)
                found[path] = serious_violations(page)
    assert {path: v for path, v in found.items() if v} == {}


# Each stacked cell's label as the phone shows it (its ::before), beside its column's header; a
# header only screen readers see (the Undo column's) leaves its cells unlabelled.
UNLABELLED_CELLS = """() => {
  const wrong = [];
  document.querySelectorAll("main table").forEach(table => {
    const heads = [...table.querySelectorAll("thead tr:last-child th")].map(th => {
      const shown = th.cloneNode(true);
      shown.querySelectorAll(".visually-hidden").forEach(hidden => hidden.remove());
      return shown.textContent.trim();
    });
    table.querySelectorAll("tbody tr, tfoot tr").forEach(row => {
      let column = 0;
      [...row.cells].forEach(cell => {
        const head = heads[column] || "";
        column += cell.colSpan;
        if (cell.tagName !== "TD" || !head) return;
        const label = getComputedStyle(cell, "::before").content;
        if (label !== JSON.stringify(head + ": ")) wrong.push(`${head} -> ${label}`);
      });
    });
  });
  return wrong;
}"""


@pytest.mark.parametrize("audience", list(AUDIENCES))
def test_without_javascript_stacked_rows_carry_their_column_labels_and_pages_fit(app, browser, live_server, audience):
    """JavaScript off, 390 px: does every stacked cell of every table say which column it is
    ("Amount: 2.50 USD"), on a page no wider than the phone?"""
    seed(app)
    context = browser.new_context(base_url=live_server.url, viewport={"width": PHONE, "height": 844},
                                  is_mobile=True, java_script_enabled=False)
    page = context.new_page()
    email, _ = AUDIENCES[audience]
    if email:
        sign_in(page, email, password=DEMO_PASSWORD)
    tables, unlabelled = 0, {}
    paths = pages_of(app, audience)
    for path in paths:
        if not page.request.get(path).headers.get("content-type", "").startswith("text/html"):
            continue
        page.goto(path)
        tables += page.locator("main table tbody td").count()
        if wrong := page.evaluate(UNLABELLED_CELLS):
            unlabelled[path] = wrong[:3]
    assert unlabelled == {}
    assert overflowing_pages(page, paths) == {}
    assert tables > 0 or audience == "customer", "the seeded tables have rows (a customer's pages have none)"
    context.close()


@pytest.mark.parametrize("audience", list(AUDIENCES))
def test_every_page_passes_the_axe_audit_on_a_phone(app, browser, live_server, audience):
    """The same walk at 390 px: does axe find nothing serious or critical on any page?"""
    seed(app)
    email, _ = AUDIENCES[audience]
    found = {}
    with audited_page(browser, live_server, viewport={"width": PHONE, "height": 844}, is_mobile=True) as page:
        if email:
            sign_in(page, email, password=DEMO_PASSWORD)
        for path in pages_of(app, audience):
            if not page.request.get(path).headers.get("content-type", "").startswith("text/html"):
                continue
            page.goto(path)
            if page.locator("main").count():
                found[path] = serious_violations(page)
    assert len(found) >= 3
    assert {path: v for path, v in found.items() if v} == {}
