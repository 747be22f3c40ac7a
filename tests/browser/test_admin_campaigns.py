"""An admin runs a campaign in real Chromium: coupon, 1,000 cards with a live progress bar, exports,
look-up and freeze; then the merchant's till refuses the frozen card."""

from __future__ import annotations

import csv
import re
import time

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import AuditEvent, GiftCard
from portal.models.campaigns import Campaign
from tests.browser.pages import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def slow_batches(app, monkeypatch):
    """Jobs run in a thread, as a worker would, in batches of 100 that take a moment each, so the
    page really shows a bar that moves."""
    from portal.campaigns import jobs

    app.config.update(CAMPAIGN_JOBS_IN_THREAD=True, CAMPAIGN_BATCH_SIZE=100)
    real = jobs.generate_batch

    def slowly(*args, **kwargs):
        time.sleep(0.15)
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "generate_batch", slowly)


def read_csv(download) -> list[list[str]]:
    with open(download.path(), newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_an_admin_runs_a_campaign_and_freezes_a_card_the_till_then_refuses(desktop, browser, live_server, app, people, slow_batches):
    page = desktop
    sign_in(page, people["admin"], r"/admin/$")

    # A coupon with a 5-use limit.
    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    page.wait_for_load_state()  # the page's script is running: choosing a kind swaps its rules in
    page.get_by_label("Name").fill("Five friends")
    page.get_by_role("radio", name="Coupon").click()
    expect(page.get_by_role("radio", name="Percent off")).to_be_visible()
    page.get_by_role("radio", name="Percent off").check()
    page.get_by_label("Discount (percent or amount)").fill("10")
    page.get_by_role("radio", name="One shared code, like SAVE20").check()
    page.get_by_label("Vanity code").fill("FRIENDS5")
    page.get_by_label("Total uses").fill("5")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_text("Campaign “Five friends” created.")).to_be_visible()
    expect(page.get_by_role("heading", name="Five friends")).to_be_visible()
    expect(page.locator(".facts")).to_contain_text("0 of 5")
    expect(page.locator(".facts")).to_contain_text("FRIENDS5")

    # A gift card campaign of 1,000 cards, generated in the background with a live progress bar.
    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    page.wait_for_load_state()
    page.get_by_label("Name").fill("Spring cards")
    page.get_by_role("radio", name="Gift cards").click()
    expect(page.get_by_label("Currency")).to_be_visible()
    page.get_by_label("Currency").fill("USD")
    page.get_by_label("Value of each card or credit").fill("10.00")
    page.get_by_label("How many codes or cards to generate now").fill("1000")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_text("Campaign “Spring cards” created.")).to_be_visible()
    bar = page.locator(".job progress")
    expect(page.locator(".job")).to_contain_text("Generating 1,000 cards")
    seen = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        value = int(bar.get_attribute("value") or 0)
        seen.add(value)
        if value == 1000:
            break
        time.sleep(0.1)
    expect(page.locator(".job")).to_contain_text("1,000 of 1,000 (100%) — finished", timeout=30_000)
    # The bar moved while the page watched: it was swapped in by polling, not by a reload.
    assert any(0 < value < 1000 for value in seen) or len(seen) > 1, seen
    expect(page.locator(".job")).not_to_have_attribute("hx-trigger", re.compile("."))
    page.reload()
    expect(page.get_by_role("region", name="Numbers")).to_contain_text("10,000.00 USD")

    # The CSV export: masked codes only.
    with page.expect_download() as masked_download:
        page.get_by_role("link", name="Export CSV (masked codes)").click()
    rows = read_csv(masked_download.value)
    assert rows[0][:3] == ["code", "card_id", "balance"] and len(rows) == 1001
    assert all(row[0].startswith("GC-****-****-****-") and row[2] == "10.00" for row in rows[1:])

    # Full codes only when asked for with a reason, which the audit log keeps.
    page.get_by_label("Reason").fill("Printing the cards for the spring fair")
    with page.expect_download() as full_download:
        page.get_by_role("button", name="Export CSV with full codes").click()
    full = read_csv(full_download.value)
    code = full[1][0]
    assert re.fullmatch(r"GC-[0-9A-Z]{4}(-[0-9A-Z]{4}){3}-[0-9A-Z]", code) and len(full) == 1001

    # Find that card by its code and freeze it, with a reason.
    page.get_by_role("link", name="Cards", exact=True).click()
    page.get_by_label("Find by").select_option("code")
    page.get_by_label("Search for").fill(code.lower())
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name=re.compile(re.escape(code[-6:]))).click()
    expect(page.locator("#card-panel .facts")).to_contain_text("10.00 USD")
    expect(page.locator("#card-panel .facts")).to_contain_text("Spring cards")
    page.get_by_role("button", name="Freeze card").click()
    expect(page.get_by_text("Please give a reason")).to_be_visible()  # refused, shown in place
    page.locator("#card-panel").get_by_label("Reason").first.fill("Lost in the post")
    page.get_by_role("button", name="Freeze card").click()
    expect(page.get_by_text("The card is frozen.")).to_be_visible()
    expect(page.locator("#card-panel .status")).to_have_text("frozen")

    with app.app_context():
        frozen = db.session.scalars(db.select(GiftCard).where(GiftCard.status == "frozen")).all()
        assert len(frozen) == 1
        actions = db.session.scalars(db.select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert "campaign.codes_exported" in actions and actions[-1] == "card.frozen"
        assert db.session.scalar(db.select(Campaign.max_uses).where(Campaign.name == "Five friends")) == 5

    # The merchant's till refuses the frozen card.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    till = context.new_page()
    till.set_default_timeout(10_000)
    try:
        sign_in(till, people["merchant"], r"/till/$")
        till.get_by_label("Purchase total").fill("5.00")
        field = till.get_by_label("Gift card code")
        field.fill(code)
        field.press("Enter")
        expect(till.get_by_role("alert")).to_contain_text("This card is frozen")
        expect(till.locator("#sale dt", has_text=re.compile("^Valid here$")).locator("xpath=following-sibling::dd[1]")).to_have_text("No")
        expect(till.get_by_role("button", name="Apply", exact=True)).to_have_count(0)
    finally:
        context.close()
