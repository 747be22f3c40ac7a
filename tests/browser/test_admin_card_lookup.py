"""An admin looks a card up by its code in real Chromium, by keyboard: the code stays out of the
address bar, the history and the page; only its masked form shows (DESIGN §7)."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from portal.cards import operations
from portal.extensions import db
from portal.ledger import Actor
from portal.money import Money
from portal.services import services
from tests.browser.pages import sign_in

pytestmark = pytest.mark.browser


def test_a_looked_up_code_leaves_no_trace_in_the_address_or_the_page(desktop_either_way, app, people):
    with app.app_context():
        issued = operations.issue_card(db.session, services().vault, amount=Money.parse("7.00", "USD"), actor=Actor(),
                                       idempotency_key=str(uuid.uuid4()))
        db.session.commit()
        code, masked_tail = issued.code, issued.code[-6:]
    page = desktop_either_way  # the field keeps focus for the next code, with or without the page's script
    sign_in(page, people["admin"], r"/admin/$")
    page.get_by_role("link", name="Cards", exact=True).click()
    page.get_by_label("Find by").select_option("code")
    search = page.get_by_label("Search for")
    search.fill(code.lower())
    search.press("Enter")  # the keyboard is enough
    result = page.get_by_role("link", name=re.compile(re.escape(masked_tail)))
    expect(result).to_be_visible()
    expect(search).to_have_value("")
    expect(search).to_be_focused()
    spellings = (code, code.lower(), code.replace("-", ""), code.replace("-", "").lower())
    history = page.evaluate("() => [location.href, document.referrer, history.length]")
    assert not any(s in str(history) for s in spellings)
    assert not any(s in page.content() for s in spellings)
    assert not any(s in page.locator("body").inner_text() for s in spellings)
    # A refused code is explained without being shown again.
    search.fill(code[:-1] + ("A" if code[-1] != "A" else "B"))
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#q-error")).to_contain_text("That code has a typo")
    expect(search).to_have_value("")
    assert not any(s[:-1] in page.content() for s in spellings)
