"""What the wallet says after an action matches what happened: once, and without a stale QR code."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import GiftCard
from tests.browser.pages import sign_in
from tests.factories import add_loops, make_card

pytestmark = pytest.mark.browser


def card_count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(GiftCard.id)))


def test_a_double_click_makes_one_card_and_says_so_once(app, phone, people):
    """Double-clicking "Get the gift card": one card, and "ready" shown once on its page."""
    add_loops(app, people["customer"], 2000)
    sign_in(phone, people["customer"])
    phone.get_by_role("link", name="Loops", exact=True).click()
    phone.wait_for_load_state("load")
    phone.get_by_label("Card value").fill("5.00")
    expect(phone.get_by_text("500 Loops at 100 Loops per 1.00")).to_be_visible()
    phone.get_by_role("button", name="Get the gift card").dblclick()
    expect(phone).to_have_url(re.compile(r"/wallet/cards/\d+$"))
    expect(phone.get_by_text("Your 5.00 USD gift card is ready")).to_have_count(1)
    phone.wait_for_load_state("networkidle")
    expect(phone.get_by_text("Your 5.00 USD gift card is ready")).to_have_count(1)
    assert card_count(app) == 1


def test_a_card_given_away_shows_no_qr_code_to_pay_with(app, phone, people):
    """Right after "Give this card", the page no longer offers a QR code a till would take, and says why."""
    make_card(app, "10.00", owner=people["customer"])
    sign_in(phone, people["customer"])
    phone.get_by_role("link", name=re.compile(r"10\.00 USD")).first.click()
    qr = phone.get_by_role("img", name="QR code to pay with this card at the till")
    expect(qr).to_be_visible()
    # The card page's script is running: the answer then replaces its QR code in place (without it,
    # the plain form's own page answers, with no QR code to replace).
    phone.wait_for_load_state()
    phone.get_by_role("button", name="Give this card").click()
    expect(phone.get_by_text("Claim code", exact=True)).to_be_visible()
    expect(qr).to_have_count(0)
    expect(phone.get_by_text("waiting for your friend to claim it")).to_be_visible()
