"""A person signs up, out and in again in real Chromium, on a phone-sized screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.pages import sign_up
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_a_customer_signs_up_signs_out_and_signs_in_again(app, phone):
    """Does the whole round trip work by labels and buttons, through the e-mailed link, ending on the wallet?"""
    phone.goto("/")
    phone.get_by_role("link", name="Create your wallet").click()
    sign_up(phone, app, "Priya", "priya@example.com", "a long passphrase")
    expect(phone).to_have_url(re.compile(r"/wallet/$"))
    expect(phone.get_by_text("Welcome to Giftloop! Your wallet is ready.")).to_be_visible()
    expect(phone.get_by_role("heading", name="Loops")).to_be_visible()

    phone.get_by_role("button", name="Sign out").click()
    expect(phone.get_by_text("You are signed out.")).to_be_visible()

    phone.get_by_label("E-mail address").fill("priya@example.com")
    phone.get_by_label("Password").fill("a long passphrase")
    phone.get_by_role("button", name="Sign in").click()
    expect(phone).to_have_url(re.compile(r"/wallet/$"))
    expect(phone.get_by_role("heading", name="Gift cards")).to_be_visible()


def test_a_wrong_password_shows_a_clear_message(phone, people):
    """Does a mistyped password say so, and leave the person on the sign-in page?"""
    phone.goto("/signin")
    phone.get_by_label("E-mail address").fill(people["customer"])
    phone.get_by_label("Password").fill("not my password")
    phone.get_by_role("button", name="Sign in").click()
    expect(phone.get_by_role("alert")).to_have_text("That e-mail address and password don't match an account.")
    expect(phone).to_have_url(re.compile(r"/signin"))


def test_a_form_without_its_csrf_token_is_refused(phone, people):
    """If the hidden CSRF token is removed from the form, is the post refused and nobody signed in?"""
    phone.goto("/signin")
    phone.locator('input[name="csrf_token"]').evaluate("el => el.remove()")
    phone.get_by_label("E-mail address").fill(people["customer"])
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    expect(phone.get_by_text("This form has expired or was not sent from Giftloop")).to_be_visible()
    phone.goto("/wallet/")
    expect(phone).to_have_url(re.compile(r"/signin"))


def test_the_wallet_fits_a_phone_and_works_by_keyboard(phone, people):
    """Is there no sideways scrolling on a phone, and can the keyboard reach sign-in and submit it?"""
    phone.goto("/signin")
    phone.keyboard.press("Tab")
    expect(phone.get_by_role("link", name="Skip to content")).to_be_focused()
    phone.get_by_label("E-mail address").focus()
    phone.keyboard.type(people["customer"])
    phone.keyboard.press("Tab")
    phone.keyboard.type(PASSWORD)
    phone.keyboard.press("Enter")
    expect(phone).to_have_url(re.compile(r"/wallet/$"))
    overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0


def test_pages_run_under_a_strict_content_security_policy(phone, people):
    """Does htmx load under the CSP with no inline script and no policy violation?"""
    violations = []
    phone.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    phone.goto("/signin")
    assert phone.evaluate("typeof window.htmx") == "object"
    assert phone.evaluate("htmx.config.allowEval") is False
    assert phone.evaluate("htmx.config.historyCacheSize") == 0
    assert violations == []
