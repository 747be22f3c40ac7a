"""What browser tests do on a page the way a person does: sign in, read a fact, scan a code."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.factories import PASSWORD


def sign_in(page: Page, email: str, home: str | None = None, *, password: str = PASSWORD) -> None:
    """Sign in through the form, then wait for the home page (a pattern of its address) or, if
    none is named, for the "Sign out" button every signed-in page has."""
    page.goto("/signin")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if home:
        expect(page).to_have_url(re.compile(home))
    else:
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def fact(page: Page, name: str):
    """The value shown beside a label in the sale (Balance, Applied, Left on card, Still to pay…)."""
    return page.locator("#sale dt", has_text=re.compile(f"^{name}$")).locator("xpath=following-sibling::dd[1]")


def scan_like_a_usb_scanner(page: Page, code: str) -> None:
    """A USB scanner types the code and presses Enter."""
    field = page.get_by_label("Gift card code")
    field.click()
    field.press_sequentially(code, delay=5)
    field.press("Enter")


def no_sideways_scroll(page: Page) -> bool:
    """Does the page fit its viewport's width (nothing to scroll sideways)?"""
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
