"""An admin lifts a customer's guessing lock-out from the overview, by its button (issue 20)."""

from __future__ import annotations

import re

import pytest

from portal.cards.codes import generate_card_code
from portal.extensions import db
from portal.models import User
from tests.browser.axe import audited_page, serious_violations
from tests.conftest import PASSWORD, AuthActions, submit
from tests.factories import make_card

pytestmark = pytest.mark.browser


def test_an_admin_lifts_a_lock_out_from_the_overview(app, browser, live_server, people):
    """Does the overview show the customer's lock-out with a "Lift lock-out" button (no serious axe
    finding), and once pressed may the customer redeem again?"""
    real = make_card(app, "25.00")
    customer = app.test_client()
    AuthActions(customer).login(people["customer"])
    for _ in range(10):
        submit(customer, "/wallet/redeem", {"code": generate_card_code()})
    assert submit(customer, "/wallet/redeem", {"code": real}).status_code == 429
    with app.app_context():
        subject = f"user:{db.session.scalar(db.select(User.id).where(User.email == people['customer']))}"

    with audited_page(browser, live_server, viewport={"width": 1280, "height": 800}) as page:
        page.goto("/signin")
        page.get_by_label("E-mail address").fill(people["admin"])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/admin/$"))
        row = page.get_by_role("row").filter(has_text=subject)
        assert "code_guessing_locked" in row.inner_text() and "min left" in row.inner_text()
        assert serious_violations(page) == []
        row.get_by_role("button", name="Lift lock-out").click()
        page.get_by_text(f"The lock-out of {subject} is lifted").wait_for()
        assert page.get_by_role("row").filter(has_text=subject).get_by_role("button").count() == 0

    assert submit(customer, "/wallet/redeem", {"code": real}).status_code == 303
