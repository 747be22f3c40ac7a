"""Settings → Sign-in sessions in real Chromium: "Sign out everywhere" from a phone signs the
laptop out too, and the laptop's sign-in page says why (issue 20 §3)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.pages import sign_in

pytestmark = pytest.mark.browser


def test_sign_out_everywhere_from_the_phone_signs_out_the_laptop(phone: Page, desktop: Page, people):
    """Does "Sign out everywhere" on the phone sign out the laptop, whose sign-in page says why?"""
    sign_in(desktop, people["customer"])
    sign_in(phone, people["customer"])

    phone.get_by_role("link", name="Settings").click()
    phone.get_by_role("navigation", name="Settings").get_by_role("link", name="Sign-in sessions").click()
    expect(phone.get_by_role("heading", name="Sign-in sessions")).to_be_visible()
    phone.get_by_role("button", name="Sign out everywhere").click()
    expect(phone.get_by_text("You are signed out on every device.")).to_be_visible()
    expect(phone).to_have_url(re.compile(r"/signin$"))

    desktop.reload()
    expect(desktop).to_have_url(re.compile(r"/signin\?next="))
    expect(desktop.get_by_text("You were signed out. Please sign in again.")).to_be_visible()
    expect(desktop.get_by_role("button", name="Sign out")).to_have_count(0)
