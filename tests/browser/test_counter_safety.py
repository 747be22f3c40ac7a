"""A large counter sale asks for confirmation with the amount on the button, with and without JavaScript."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_in
from tests.reads import count

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("javascript", [True, False])
def test_a_million_is_sold_only_after_confirm_names_it(browser, live_server, app, people, javascript):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800},
                                  java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, people["merchant"])
        page.get_by_role("link", name="Sell or top up").click()
        page.get_by_label("Value of the new card").fill("1000000.00")
        page.get_by_role("button", name="Sell card").click()
        confirm = page.get_by_role("button", name="Confirm 1,000,000.00 USD")
        expect(confirm).to_be_visible()
        assert count(app, "issue") == 0
        confirm.click()
        expect(page.get_by_text("1,000,000.00 USD gift card")).to_be_visible()
        assert count(app, "issue") == 1
    finally:
        context.close()
