"""The till's states a URL walk cannot reach, on a 390 px phone: a sale part paid by a card, the
large sale's confirmation and the sold card (issue 26: every screen fits, rows stacked and labelled)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.pages import fact, sign_in
from tests.factories import make_card

pytestmark = pytest.mark.browser

PHONE = 390
WIDTH = "document.documentElement.scrollWidth"


@pytest.fixture(params=[True, False], ids=["with JavaScript", "without JavaScript"])
def till(request, browser, live_server, people):
    context = browser.new_context(base_url=live_server.url, viewport={"width": PHONE, "height": 844},
                                  is_mobile=True, has_touch=True, java_script_enabled=request.param)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, people["merchant"])
    yield page
    context.close()


def test_a_sale_part_paid_by_a_card_fits_the_phone_and_its_payments_are_labelled(till, app):
    """Total 7.00, a 5.00 card applied: do the card panel and the payments fit 390 px, and does
    the stacked payment row say "Paid: 5.00 USD"?"""
    code = make_card(app, "5.00")
    till.goto("/till/")
    till.get_by_label("Purchase total").fill("7.00")
    till.get_by_label("Gift card code").fill(code)
    till.get_by_role("button", name="Look up card").click()
    expect(fact(till, "Balance")).to_have_text("5.00 USD")
    assert till.evaluate(WIDTH) <= PHONE
    till.get_by_role("button", name="Apply", exact=True).click()
    paid = till.get_by_role("cell", name="5.00 USD").first
    expect(paid).to_be_visible()
    assert paid.evaluate("c => getComputedStyle(c, '::before').content") == '"Paid: "'
    assert till.evaluate(WIDTH) <= PHONE


def test_a_large_sale_asks_to_confirm_and_the_sold_card_fit_the_phone(till):
    till.goto("/till/sell")
    till.get_by_label("Value of the new card").fill("1000000.00")
    till.get_by_role("button", name="Sell card").click()
    confirm = till.get_by_role("button", name="Confirm 1,000,000.00 USD")
    expect(confirm).to_be_visible()
    assert till.evaluate(WIDTH) <= PHONE
    confirm.click()
    expect(till.get_by_text("Card sold")).to_be_visible()
    assert till.evaluate(WIDTH) <= PHONE
