"""An axe-core audit of every customer and public page, in Chromium at a phone's size."""

from __future__ import annotations

import re

import pytest

from tests.browser.axe import audited_page, serious_violations
from tests.conftest import PASSWORD
from tests.factories import add_loops, issue

pytestmark = pytest.mark.browser


@pytest.fixture
def audited(browser, live_server):
    with audited_page(browser, live_server, viewport={"width": 390, "height": 844}, is_mobile=True) as page:
        yield page


def test_customer_and_public_pages_have_no_serious_accessibility_violations(app, audited, people):
    """Does axe find nothing serious or critical on each page, including its forms' error states?"""
    card_id, _ = issue(app, owner=people["customer"], amount="25.00")
    add_loops(app, people["customer"], 420)
    page = audited
    found = {}
    for path in ("/balance", "/claim/GL-ABCD-EFGH-JKMN", "/shop/bulk"):
        page.goto(path)
        found[path] = serious_violations(page)
    page.goto("/balance")
    page.get_by_role("button", name="Check balance").click()
    page.wait_for_selector(".error")
    found["/balance (error)"] = serious_violations(page)

    page.goto("/signin")
    page.get_by_label("E-mail address").fill(people["customer"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/wallet/$"))
    for path in ("/wallet/", f"/wallet/cards/{card_id}", f"/wallet/cards/{card_id}/topup", "/wallet/loops/convert",
                 "/wallet/redeem", f"/wallet/cards/{card_id}/print", "/claim/GL-ABCD-EFGH-JKMN",
                 "/settings/sessions", "/settings/tokens", f"/wallet/cards/{card_id}/topup/pay", "/wallet/topup"):
        page.goto(path)
        found[path] = serious_violations(page)

    page.goto("/wallet/loops/convert")
    page.get_by_label("Card value").fill("5.00")
    page.get_by_text("You have 420 Loops; this needs 500").wait_for()
    found["convert (short of Loops)"] = serious_violations(page)
    page.goto(f"/wallet/cards/{card_id}")
    page.get_by_role("button", name="Give this card").click()
    page.locator(".claim-once").wait_for()
    found["card (given)"] = serious_violations(page)
    assert {path: v for path, v in found.items() if v} == {}
