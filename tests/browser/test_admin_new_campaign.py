"""The new-campaign form asks only for the chosen kind's rules, with and without JavaScript."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("javascript", [True, False])
def test_choosing_a_kind_shows_its_rules_and_keeps_the_name(browser, live_server, people, javascript):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800},
                                  java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, people["admin"], r"/admin/$")
        page.goto("/admin/campaigns/new")
        expect(page.get_by_label("Currency")).to_have_count(0)
        page.get_by_label("Name").fill("Plus for a week")
        # A click, as a person makes: with JavaScript the radio is swapped away at once with its form.
        page.get_by_role("radio", name="Feature unlock").click()
        if not javascript:
            page.get_by_role("button", name="Next").click()
        expect(page.get_by_label("Days unlocked")).to_be_visible()
        expect(page.get_by_label("Name")).to_have_value("Plus for a week")
        expect(page.get_by_label("Discount (percent or amount)")).to_have_count(0)
        expect(page.get_by_label("Value of each card or credit")).to_have_count(0)
        expect(page).to_have_url(re.compile(r"kind=feature"))
        expect(page.get_by_role("button", name="Create campaign")).to_be_visible()
    finally:
        context.close()
