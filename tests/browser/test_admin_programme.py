"""An admin sets the programme's rules for a kind of code in real Chromium, by labels; a till then
refuses a gift card the rules keep off tills, naming the rule."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_in, till_refuses
from tests.factories import make_card
from tests.reads import balance

pytestmark = pytest.mark.browser


def test_an_admin_keeps_gift_cards_off_tills_and_a_till_says_so(desktop, app, people):
    code = make_card(app, "10.00")
    page = desktop
    sign_in(page, people["admin"], r"/admin/$")
    page.get_by_role("link", name="Programme", exact=True).click()
    gift_cards = page.get_by_role("region", name="Gift cards")
    gift_cards.get_by_label("Default expiry (days from issue)").fill("120")
    gift_cards.get_by_role("group", name="Redeemed through").get_by_label("Till").uncheck()
    gift_cards.get_by_role("button", name="Save rules for gift cards").click()
    expect(page.get_by_text("The rules for gift cards are saved.")).to_be_visible()
    expect(page.get_by_role("region", name="Gift cards").get_by_label("Till")).not_to_be_checked()
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, people["merchant"])
    till_refuses(
        page, code,
        "Gift cards cannot be redeemed at a till: the programme allows them only on the Giftloop website or through the API",
    )
    assert balance(app, code) == "10.00"
