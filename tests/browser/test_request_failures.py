"""A request htmx sends that fails says so where it was sent, and an ended session leads to sign-in
and back to the page, in real Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.pages import scan_like_a_usb_scanner, sign_in
from tests.conftest import PASSWORD
from tests.factories import make_card
from tests.reads import balance

pytestmark = pytest.mark.browser


@pytest.fixture
def till(desktop, people):
    sign_in(desktop, people["merchant"])
    return desktop


def ready_to_apply(till, app, total: str = "7.00") -> str:
    code = make_card(app, "10.00")
    till.get_by_label("Purchase total").fill(total)
    scan_like_a_usb_scanner(till, code)
    expect(till.get_by_label("Amount to take from this card")).to_have_value(total)
    return code


def test_an_ended_session_leads_to_sign_in_and_back_to_the_till(till, app, people):
    """The session cookie is gone (expired) when Apply is pressed: sign-in, then the till again."""
    code = ready_to_apply(till, app)
    till.context.clear_cookies()
    till.get_by_role("button", name="Apply", exact=True).click()
    expect(till).to_have_url(re.compile(r"/signin\?next=/till/$"))
    expect(till.get_by_text("Your session has ended")).to_be_visible()
    till.get_by_label("E-mail address").fill(people["merchant"])
    till.get_by_label("Password").fill(PASSWORD)
    till.get_by_role("button", name="Sign in").click()
    expect(till).to_have_url(re.compile(r"/till/$"))
    assert balance(app, code) == "10.00"


def test_a_stale_form_token_is_explained_beside_the_form(till, app):
    """The page's CSRF token no longer matches the session: the till says so instead of nothing."""
    code = ready_to_apply(till, app)
    till.evaluate("""() => {
        document.querySelector('meta[name=csrf-token]').content = 'stale';
        document.querySelectorAll('input[name=csrf_token]').forEach((input) => { input.value = 'stale'; });
    }""")
    till.get_by_role("button", name="Apply", exact=True).click()
    expect(till.get_by_role("alert")).to_contain_text("This form has expired")
    assert balance(app, code) == "10.00"


@pytest.mark.parametrize("failure", ["server", "network"])
def test_a_failed_apply_is_explained_beside_the_form(till, app, failure):
    """A 500 or a dropped connection on Apply shows a plain message, not a page that seems to ignore the click."""
    ready_to_apply(till, app)
    if failure == "server":
        till.route("**/till/apply", lambda route: route.fulfill(status=500, body="<h1>Internal Server Error</h1>"))
        expected = "Something went wrong on our side"
    else:
        till.route("**/till/apply", lambda route: route.abort("connectionrefused"))
        expected = "could not be reached"
    till.get_by_role("button", name="Apply", exact=True).click()
    expect(till.get_by_role("alert")).to_contain_text(expected)
