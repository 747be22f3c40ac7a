"""What browser tests do on a page the way a person does: sign up, sign in, tab to a control, read a
fact, scan a code."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.conftest import signup_link
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


def sign_up(page: Page, app, name: str, email: str, password: str) -> None:
    """Fill in the sign-up form the page shows, then follow the e-mailed link and create the account."""
    page.get_by_label("Your name").fill(name)
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    page.goto(signup_link(app, email))
    page.get_by_role("button", name="Create my account").click()


def tab_to(page: Page, control, presses: int) -> None:
    """Press Tab (at most ``presses`` times) until ``control`` has the focus, as a keyboard user does."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if control.evaluate("el => el === document.activeElement"):
            break
    expect(control).to_be_focused()


def look_up(page: Page, code: str, total: str) -> None:
    """At the till: type the purchase total, then scan the card."""
    page.get_by_label("Purchase total").fill(total)
    scan_like_a_usb_scanner(page, code)


def till_refuses(page: Page, code: str, message: str) -> None:
    """Scan the card at the till for a 5.00 purchase: the till says ``message``, marks it not valid
    here and offers nothing to apply."""
    look_up(page, code, "5.00")
    expect(page.get_by_role("alert")).to_contain_text(message)
    expect(fact(page, "Valid here")).to_have_text("No")
    expect(page.get_by_role("button", name="Apply", exact=True)).to_have_count(0)


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
