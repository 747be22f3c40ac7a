"""Settings → API tokens in real Chromium: make a token, copy it, use it, revoke it (issue 8)."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.axe import audited_page, serious_violations
from tests.browser.pages import sign_in

pytestmark = pytest.mark.browser


def calls_me(live_server, token: str) -> int:
    return requests.get(f"{live_server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def test_a_customer_makes_copies_uses_and_revokes_a_token_on_a_phone(phone, live_server, people):
    """From the wallet's Settings tab: is the token shown once, copied by one press, and refused once revoked?"""
    phone.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    sign_in(phone, people["customer"])
    phone.get_by_role("link", name="Settings").click()
    phone.get_by_role("navigation", name="Settings").get_by_role("link", name="API tokens").click()
    expect(phone.get_by_role("heading", name="API tokens")).to_be_visible()
    expect(phone.get_by_text("You have no tokens.")).to_be_visible()

    phone.get_by_role("button", name="Make token").click()
    expect(phone.locator("#name-error")).to_have_text("Give the token a name")

    phone.get_by_label("Token name").fill("Budget app")
    phone.get_by_role("button", name="Make token").click()
    expect(phone.get_by_role("heading", name="Copy your new token now")).to_be_focused()
    token = phone.get_by_label("Your new token", exact=True).input_value()
    assert token.startswith("glt_")
    phone.get_by_role("button", name="Copy token").click()
    expect(phone.get_by_role("status")).to_have_text("Copied. Keep it somewhere safe.")
    assert phone.evaluate("navigator.clipboard.readText()") == token
    assert phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    assert calls_me(live_server, token) == 200

    # Once the page is left, the token is never shown again: only its name and first characters.
    phone.reload()
    expect(phone.get_by_label("Your new token", exact=True)).to_have_count(0)
    expect(phone.get_by_text(token[:10] + "…")).to_be_visible()
    assert token not in phone.content()

    phone.get_by_role("link", name="Revoke Budget app").click()
    expect(phone.get_by_role("heading", name="Revoke “Budget app”?")).to_be_visible()
    phone.get_by_role("button", name="Revoke token").click()
    expect(phone.get_by_text("The token “Budget app” is revoked")).to_be_visible()
    expect(phone.get_by_text("You have no tokens.")).to_be_visible()
    assert calls_me(live_server, token) == 401


def test_staff_make_a_token_by_keyboard_alone(desktop_either_way, live_server, people):
    """Can merchant staff reach the tokens page from the top bar and make a token with the keyboard?
    Focus lands on the new token whether htmx or the plain form sent it."""
    desktop = desktop_either_way
    sign_in(desktop, people["merchant"])
    desktop.get_by_role("link", name="API tokens").click()
    expect(desktop).to_have_url(re.compile(r"/settings/tokens$"))
    desktop.get_by_label("Token name").focus()
    desktop.keyboard.type("Till 2")
    desktop.keyboard.press("Enter")
    expect(desktop.get_by_role("heading", name="Copy your new token now")).to_be_focused()
    desktop.keyboard.press("Tab")
    expect(desktop.get_by_label("Your new token", exact=True)).to_be_focused()
    assert calls_me(live_server, desktop.get_by_label("Your new token", exact=True).input_value()) == 200


def test_the_token_pages_have_no_serious_accessibility_violations(browser, live_server, people):
    with audited_page(browser, live_server, viewport={"width": 390, "height": 844}, is_mobile=True) as page:
        sign_in(page, people["customer"])
        page.goto("/settings/tokens")
        found = {"list": serious_violations(page)}
        page.get_by_role("button", name="Make token").click()
        page.wait_for_selector(".error")
        found["error"] = serious_violations(page)
        page.get_by_label("Token name").fill("Script")
        page.get_by_role("button", name="Make token").click()
        page.wait_for_selector("#new-token")
        found["new token"] = serious_violations(page)
        page.get_by_role("link", name="Revoke Script").click()
        found["confirm"] = serious_violations(page)
    assert found == {"list": [], "error": [], "new token": [], "confirm": []}
