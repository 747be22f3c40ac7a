"""Topping a card up from Loops or wallet credit: a review first, then one charge however often it is sent."""

from __future__ import annotations

import re

import pytest

from tests.conftest import submit
from tests.factories import add_credit, add_loops, expire, freeze_card, issue, new_key
from tests.pages import HTMX, text
from tests.reads import card_balance, loops_of, refused, snapshot


def _topup(client, card_id, step, amount, source="loops", key=None, **kwargs):
    data = {"amount": amount, "source": source, "step": step, "idempotency_key": key or new_key()}
    return submit(client, f"/wallet/cards/{card_id}/topup", data, page=f"/wallet/cards/{card_id}/topup", **kwargs)


def test_the_review_shows_the_new_balance_and_expiry_and_changes_nothing(app, client, cara):
    """Before confirming, does the customer see what it costs, the new balance and the new expiry?"""
    card_id, _ = issue(app, owner=cara, amount="25.00", days=1900)
    add_loops(app, cara, 2000)
    before = snapshot(app)
    review = _topup(client, card_id, "review", "10.00")
    assert review.status_code == 200
    words = text(review)
    assert "1000 Loops" in words
    assert "35.00 USD" in words
    assert "Valid until" in words and "Confirm top-up" in words
    assert re.search(r"\(unchanged\)", words)
    assert snapshot(app) == before


def test_a_purchased_card_topped_up_shows_its_expiry_moving_to_five_years_from_today(app, client, cara):
    """Does the review say the expiry moves (and from when) when the top-up extends it?"""
    card_id, _ = issue(app, owner=cara, amount="25.00", kind="promotional", days=30)
    add_loops(app, cara, 2000)
    words = text(_topup(client, card_id, "review", "5.00"))
    assert "(unchanged)" in words  # a promotional card keeps its date
    paid_id, _ = issue(app, owner=cara, amount="25.00")
    with app.app_context():
        from datetime import timedelta

        from portal.extensions import db
        from portal.models import GiftCard, utcnow

        db.session.get(GiftCard, paid_id).expires_at = utcnow() + timedelta(days=100)
        db.session.commit()
    assert "(was " in text(_topup(client, paid_id, "review", "5.00"))


def test_confirming_moves_loops_onto_the_card_once_even_if_sent_twice(app, client, cara):
    """Does a double-submitted confirm charge the Loops once?"""
    card_id, _ = issue(app, owner=cara, amount="25.00")
    add_loops(app, cara, 2000)
    key = new_key()
    first = _topup(client, card_id, "confirm", "10.00", key=key)
    assert first.status_code == 303
    assert first.headers["Location"].endswith(f"/wallet/cards/{card_id}")
    second = _topup(client, card_id, "confirm", "10.00", key=key)
    assert second.status_code == 303
    assert card_balance(app, card_id) == 3500
    assert loops_of(app, cara) == 1000
    assert "Added 10.00 USD to your card." in text(client.get(f"/wallet/cards/{card_id}"))


def test_an_htmx_confirm_sends_the_browser_to_the_card_page(app, client, cara):
    """Does the htmx form get an HX-Redirect to the card page rather than a page inside the panel?"""
    card_id, _ = issue(app, owner=cara, amount="25.00")
    add_credit(app, cara, "20.00")
    response = _topup(client, card_id, "confirm", "20.00", source="wallet", headers=HTMX)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/wallet/cards/{card_id}"
    assert card_balance(app, card_id) == 4500


def test_not_enough_loops_is_said_plainly_at_review_and_refused_at_confirm(app, client, cara):
    """With 420 Loops for a 5.00 top-up, is it "You have 420 Loops; this needs 500", with nothing changed?"""
    card_id, _ = issue(app, owner=cara, amount="25.00")
    add_loops(app, cara, 420)
    before = snapshot(app)
    review = _topup(client, card_id, "review", "5.00")
    assert "You have 420 Loops; this needs 500" in text(review)
    assert "Confirm top-up" not in text(review)
    confirm = _topup(client, card_id, "confirm", "5.00")
    assert confirm.status_code == 422
    assert "You have 420 Loops; this needs 500" in text(confirm)
    assert snapshot(app) == before


def test_not_enough_wallet_credit_is_refused_with_nothing_changed(app, client, cara):
    """Does a top-up beyond the wallet's credit say how much the wallet holds?"""
    card_id, _ = issue(app, owner=cara, amount="25.00")
    add_credit(app, cara, "3.00")
    refused(
        app, lambda: _topup(client, card_id, "confirm", "5.00", source="wallet"),
        "Your wallet holds 3.00 USD; this needs 5.00 USD",
    )


@pytest.mark.parametrize("form, message", [
    ({"amount": ""}, "Enter an amount, like 10.00"),
    ({"amount": "12.345"}, "USD amounts have at most 2 decimal places"),
    ({"amount": "-5"}, "The amount must be more than zero"),
    ({"amount": "1,000"}, "Please use a dot for decimals and no thousands separators"),
    ({"amount": "5.00", "key": "not-a-key"}, "reload the page"),
    ({"amount": "500.00", "source": "cash"}, "Choose Loops or wallet credit"),
], ids=["empty", "three-decimals", "negative", "thousands-separator", "without-its-key", "cash"])
def test_a_bad_form_is_refused_with_its_own_message(app, client, cara, form, message):
    """Does each kind of bad amount get its own plain message, a top-up without the form's key get
    refused rather than charged, and "cash" (a counter's own source) get refused from the wallet:
    each with status 422 and nothing changed?"""
    card_id, _ = issue(app, owner=cara)
    add_loops(app, cara, 5000)
    refused(app, lambda: _topup(client, card_id, "confirm", **form), message)


def test_an_expired_or_frozen_card_cannot_be_topped_up(app, client, cara):
    """Is an expired card refused with its date, and a frozen one with its reason, nothing changed?"""
    add_loops(app, cara, 5000)
    old, _ = issue(app, owner=cara, kind="promotional", days=30)
    expire(app, old)
    cold, _ = issue(app, owner=cara)
    freeze_card(app, cold)
    before = snapshot(app)
    expired = _topup(client, old, "review", "5.00")
    assert expired.status_code == 422
    assert re.search(r"This card expired on \d{1,2} \w+ \d{4}", text(expired))
    frozen = _topup(client, cold, "confirm", "5.00")
    assert frozen.status_code == 422
    assert "This card is frozen" in text(frozen)
    assert snapshot(app) == before


def test_the_topup_page_carries_a_fresh_key_each_time_it_is_drawn(app, client, cara):
    """Does each drawing of the form carry its own idempotency key?"""
    card_id, _ = issue(app, owner=cara)
    keys = {
        re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', client.get(f"/wallet/cards/{card_id}/topup").get_data(as_text=True)).group(1)
        for _ in range(2)
    }
    assert len(keys) == 2


def test_the_same_form_sent_again_with_another_amount_is_refused_plainly(app, client, cara):
    """After a top-up, does resending its form with another amount say so and charge nothing more?"""
    card_id, _ = issue(app, owner=cara, amount="25.00")
    add_loops(app, cara, 5000)
    key = new_key()
    assert _topup(client, card_id, "confirm", "10.00", key=key).status_code == 303
    before = snapshot(app)
    again = _topup(client, card_id, "confirm", "20.00", key=key)
    assert again.status_code == 422
    assert "This form was already sent with other details" in text(again)
    assert key not in again.get_data(as_text=True)
    assert snapshot(app) == before
