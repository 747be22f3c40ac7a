"""Programme limits: set by an admin per currency, refused before payment with the reason, and the
maximum card balance enforced in the ledger's own UPDATE."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.cards.operations import load
from portal.errors import LimitExceeded
from portal.extensions import db
from portal.ledger import SYSTEM
from portal.models import GiftCard, ProgrammeLimits
from portal.models.orders import DailyLoad, Order
from portal.money import Money
from tests.factories import issue
from tests.pages import text
from tests.reads import card_balance, snapshot
from tests.shop import all_cards, buy, deliver, latest_order, set_limits, webhook


def _limits(app) -> ProgrammeLimits | None:
    with app.app_context():
        return db.session.get(ProgrammeLimits, "USD")


def test_an_admin_sets_the_limits_and_a_bad_value_says_why_and_changes_nothing(app, client, auth, people):
    """Are the limits saved from the admin page, and a maximum below the minimum refused with its reason?"""
    assert set_limits(client, auth, people).status_code == 303
    assert _limits(app).max_card_balance == 15000 and _limits(app).max_cards_per_order == 10
    refused = set_limits(client, auth, people, max_purchase="1.00", max_card_balance="999.00")
    assert refused.status_code == 400
    assert "The maximum purchase must be at least the minimum" in text(refused)
    assert _limits(app).max_card_balance == 15000
    assert "a whole number" in text(set_limits(client, auth, people, max_cards_per_order="lots"))


def test_a_purchase_above_the_maximum_balance_is_refused_before_payment(app, client, auth, people):
    """Is a 200.00 card refused with the maximum balance as the reason, and no order made?"""
    set_limits(client, auth, people)
    refused = buy(client, amount="other", custom_amount="200.00")
    assert refused.status_code == 400 and "A gift card may hold at most 150.00 USD" in text(refused)
    assert "Choose an amount from 5.00 USD to 100.00 USD" in text(buy(client, amount="other", custom_amount="101.00"))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0


def test_a_buyer_past_the_daily_maximum_is_told_what_is_left_today(app, client, auth, people):
    """After 100.00 today, is a further 25.00 refused with 20.00 left, before payment?"""
    set_limits(client, auth, people)
    assert buy(client, amount="100.00").status_code == 303
    refused = buy(client, amount="25.00")
    assert "You can buy at most 120.00 USD a day (20.00 USD left today)" in text(refused)
    assert buy(client, amount="other", custom_amount="20.00").status_code == 303


def test_a_payment_that_would_pass_the_day_is_refunded_and_what_was_loaded_counts(app, client, auth, people):
    """With 60.00 paid today, is a second 60.00 paid after the maximum fell to 100.00 refunded, and the
    next buy told 40.00 is left?"""
    set_limits(client, auth, people)
    buy(client, amount="other", custom_amount="60.00")
    assert deliver(client, *webhook(app, latest_order(app), "paid")).get_json()["received"] == "issued"
    assert buy(client, amount="other", custom_amount="60.00").status_code == 303
    second = latest_order(app)
    set_limits(client, auth, people, max_daily_per_customer="100.00")
    assert deliver(client, *webhook(app, second, "paid")).get_json()["received"] == "refunded"
    assert len(all_cards(app)) == 1
    with app.app_context():
        assert db.session.scalar(sa.select(DailyLoad.loaded)) == 6000
    refused = buy(client, amount="50.00")
    assert "You can buy at most 100.00 USD a day (40.00 USD left today)" in text(refused)


def test_the_ledger_refuses_a_load_past_the_maximum_balance_in_its_update(app, client, auth, people):
    """Is a top-up that would take a card past the maximum refused with the reason, the card unchanged?"""
    set_limits(client, auth, people)
    card_id, _ = issue(app, amount="140.00")
    before = snapshot(app)
    with app.app_context():
        card = db.session.get(GiftCard, card_id)
        with pytest.raises(LimitExceeded, match="A gift card may hold at most 150.00 USD"):
            load(db.session, card, Money.parse("20.00", "USD"), actor=SYSTEM, idempotency_key="t1", source="cash")
        db.session.rollback()
        load(db.session, card, Money.parse("10.00", "USD"), actor=SYSTEM, idempotency_key="t2", source="cash")
        db.session.commit()
    assert card_balance(app, card_id) == 15000
    assert before["cards"] == snapshot(app)["cards"]


def test_a_limit_lowered_between_order_and_payment_refunds_instead_of_issuing(app, client, auth, people):
    """If an admin lowers the maximum after a 100.00 order, does its payment refund rather than issue?"""
    set_limits(client, auth, people)
    buy(client, amount="100.00")
    order = latest_order(app)
    set_limits(client, auth, people, max_purchase="50.00", max_card_balance="50.00", max_daily_per_customer="50.00")
    assert deliver(client, *webhook(app, order, "paid")).get_json()["received"] == "refunded"
    assert all_cards(app) == [] and latest_order(app).state == "refunded"
