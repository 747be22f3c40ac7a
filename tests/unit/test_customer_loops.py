"""Turning Loops into a gift card: the rate, a live preview, one card per submission."""

from __future__ import annotations

import re

import pytest

from portal.extensions import db
from portal.merchants import create_merchant
from tests.conftest import submit
from tests.factories import add_loops, new_key
from tests.pages import HTMX, text
from tests.reads import loops_of, refused, snapshot


@pytest.fixture
def book_nook(app):
    """A merchant with its own, kinder conversion rate."""
    with app.app_context():
        shop = create_merchant(db.session, "book-nook", "The Book Nook", conversion_rate=80)
        db.session.commit()
        return shop.id


def _convert(client, amount, merchant="", key=None, **kwargs):
    data = {"amount": amount, "merchant": merchant, "currency": "USD", "idempotency_key": key or new_key()}
    return submit(client, "/wallet/loops/convert", data, **kwargs)


def test_the_page_shows_the_loops_and_the_tier_rate(app, client, cara):
    """Does the convert page say how many Loops there are and what 1.00 costs at this tier?"""
    add_loops(app, cara, 1234)
    words = text(client.get("/wallet/loops/convert"))
    assert "You have 1234 Loops" in words
    assert "At your Bronze tier, 1.00 of gift card costs 100 Loops" in words


def test_the_preview_shows_cost_and_expiry_as_the_customer_types(app, client, cara):
    """Does the preview fragment give the Loops needed, the expiry and what would be left?"""
    add_loops(app, cara, 1500)
    preview = client.get("/wallet/loops/convert/preview?amount=12.50&currency=USD&merchant=", headers=HTMX)
    words = text(preview)
    assert "12.50 USD" in words and "1250 Loops at 100 Loops per 1.00" in words
    assert re.search(r"Valid until \d{1,2} \w+ \d{4}", words)
    assert "You will have 250 Loops left" in words
    assert "<html" not in preview.get_data(as_text=True)


def test_the_preview_says_plainly_when_loops_fall_short(app, client, cara):
    """With 420 Loops, does a 5.00 card read "You have 420 Loops; this needs 500"?"""
    add_loops(app, cara, 420)
    words = text(client.get("/wallet/loops/convert/preview?amount=5&currency=USD", headers=HTMX))
    assert "You have 420 Loops; this needs 500" in words


def test_the_preview_explains_a_bad_amount(app, client, cara):
    """Does a half-typed or wrong amount get a reason instead of a preview?"""
    words = text(client.get("/wallet/loops/convert/preview?amount=1.234&currency=USD", headers=HTMX))
    assert "USD amounts have at most 2 decimal places" in words
    assert "Type a value" in text(client.get("/wallet/loops/convert/preview?amount=", headers=HTMX))


def test_a_merchants_own_rate_applies_to_cards_only_for_it(app, client, cara, book_nook):
    """Does choosing The Book Nook price the card at its 80 Loops per 1.00, valid only there?"""
    add_loops(app, cara, 1000)
    words = text(client.get(f"/wallet/loops/convert/preview?amount=10&merchant={book_nook}", headers=HTMX))
    assert "800 Loops at 80 Loops per 1.00 (The Book Nook's own rate)" in words
    assert "Only at The Book Nook" in words
    response = _convert(client, "10.00", merchant=str(book_nook))
    assert response.status_code == 303
    assert loops_of(app, cara) == 200
    assert "Only at The Book Nook" in text(client.get(response.headers["Location"]))


def test_converting_makes_a_card_shown_with_its_qr_code(app, client, cara):
    """Does a conversion spend the Loops and land on the new card, with its QR code?"""
    add_loops(app, cara, 1500)
    response = _convert(client, "10.00")
    assert response.status_code == 303
    card_page = client.get(response.headers["Location"])
    words = text(card_page)
    assert "Your 10.00 USD gift card is ready" in words
    assert "10.00 USD" in words and "Bought with Loops" in words
    assert 'role="img"' in card_page.get_data(as_text=True)
    assert loops_of(app, cara) == 500


def test_a_double_submitted_conversion_makes_one_card(app, client, cara):
    """Does sending the same form twice spend the Loops and make a card once?"""
    add_loops(app, cara, 5000)
    key = new_key()
    first = _convert(client, "10.00", key=key)
    second = _convert(client, "10.00", key=key)
    assert first.headers["Location"] == second.headers["Location"]
    assert loops_of(app, cara) == 4000
    assert snapshot(app)["cards"] == 1


def test_not_enough_loops_refuses_with_nothing_changed(app, client, cara):
    """Is a conversion beyond the Loops refused with the plain reason, making no card?"""
    add_loops(app, cara, 420)
    refused(app, lambda: _convert(client, "5.00", headers=HTMX), "You have 420 Loops; this needs 500")


def test_an_unknown_merchant_is_refused(app, client, cara):
    """Is a merchant that isn't on the list refused by the field?"""
    add_loops(app, cara, 5000)
    refused(app, lambda: _convert(client, "5.00", merchant="9999"), "Choose a merchant from the list")
