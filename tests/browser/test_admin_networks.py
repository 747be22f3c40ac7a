"""An admin makes an acceptance network and scopes a card to it in real Chromium, by labels; the till
of a merchant outside the network then refuses the card, naming the network."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_in, till_refuses
from tests.factories import add_merchant, issue
from tests.reads import balance

pytestmark = pytest.mark.browser


def test_an_admin_makes_a_network_and_a_till_outside_it_refuses_its_card(desktop, app, people):
    add_merchant(app, "book-nook", "The Book Nook")
    card_id, code = issue(app, amount="10.00")
    page = desktop
    sign_in(page, people["admin"], r"/admin/$")
    page.get_by_role("link", name="Networks", exact=True).click()
    page.get_by_label("Network name").fill("Riverside Mall")
    page.get_by_role("button", name="Create network").click()
    expect(page.get_by_role("heading", name="Riverside Mall", level=1)).to_be_visible()
    page.get_by_label("Merchant to add").select_option(label="The Book Nook")
    page.get_by_role("button", name="Add to Riverside Mall").click()
    expect(page.get_by_role("row", name="The Book Nook")).to_be_visible()

    page.goto(f"/admin/cards/{card_id}")
    page.get_by_label("Works in the network").select_option(label="Riverside Mall")
    page.get_by_role("button", name="Save the network").click()
    expect(page.get_by_text("merchants of the Riverside Mall network")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, people["merchant"])  # Corner Café's till: not in the mall
    till_refuses(
        page, code,
        "This card works only in the Riverside Mall network, and Corner Café is not part of it",
    )
    assert balance(app, code) == "10.00"
