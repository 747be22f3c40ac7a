"""Holds raced on PostgreSQL (issue 27): holds never reserve more than a card has, a hold is
finished exactly once however many tills try, and the ledger verifies after every race."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.cards import operations as ops
from portal.cards.holds import HoldNotOpen, capture_hold, lapse_due, place_hold, release_hold
from portal.errors import InsufficientFunds
from portal.extensions import db
from portal.ledger import Actor, balance_of, settlement_account, verify
from portal.models import GiftCard, Merchant, utcnow
from portal.models.holds import Hold
from portal.money import Money
from tests.concurrency import at_once
from tests.factories import card_and_cafe

pytestmark = pytest.mark.postgres


@pytest.fixture
def card(pg_app):
    """A committed $100 network card and the café that takes it: (card id, merchant id)."""
    return card_and_cafe(pg_app, "100.00")


def _hold(card_id: int, cafe_id: int, key: str, amount: int = 1_000, **options) -> Hold:
    return place_hold(
        db.session, db.session.get(GiftCard, card_id), Money(amount, "USD"), actor=Actor(user_id=None, merchant_id=cafe_id),
        idempotency_key=key, merchant=db.session.get(Merchant, cafe_id), **options,
    )


def _placed(pg_app, card_id: int, cafe_id: int, **options) -> int:
    with pg_app.app_context():
        hold_id = _hold(card_id, cafe_id, f"place-{uuid.uuid4()}", **options).id
        db.session.commit()
        db.session.remove()
        return hold_id


def _sound(pg_app) -> None:
    with pg_app.app_context():
        assert verify(db.session) == []


def _as_cafe(cafe_id: int, key: str) -> dict:
    return {"actor": Actor(merchant_id=cafe_id), "idempotency_key": key, "merchant": db.session.get(Merchant, cafe_id)}


def test_twenty_holds_of_ten_dollars_on_a_hundred_dollar_card_reserve_exactly_ten(pg_app, card):
    card_id, cafe_id = card
    outcomes = at_once(pg_app, 20, lambda i: _hold(card_id, cafe_id, f"shop-{i}"))
    placed = [o for o in outcomes if isinstance(o, Hold)]
    refused = [o for o in outcomes if isinstance(o, InsufficientFunds)]
    assert len(placed) == 10 and len(refused) == 10, outcomes
    assert {o.message for o in refused} == {"This card has 0.00 USD available; 10.00 USD is more than that"}
    with pg_app.app_context():
        assert db.session.get(GiftCard, card_id).account.balance == 0
        assert db.session.scalar(sa.select(sa.func.count(Hold.id))) == 10
    _sound(pg_app)


@pytest.mark.usefixtures("payment_path")  # both ways of paying see only what is available
def test_holds_and_payments_at_once_never_take_more_than_the_card_has(pg_app, card):
    card_id, cafe_id = card

    def hold_or_pay(i: int):
        if i % 2:
            return _hold(card_id, cafe_id, f"shop-{i}")
        return ops.redeem(db.session, db.session.get(GiftCard, card_id), Money(1_000, "USD"),
                          actor=Actor(merchant_id=cafe_id), idempotency_key=f"till-{i}",
                          merchant=db.session.get(Merchant, cafe_id))

    outcomes = at_once(pg_app, 20, hold_or_pay)
    done = [o for o in outcomes if isinstance(o, (Hold, ops.Redemption))]
    assert len(done) == 10 and sum(isinstance(o, InsufficientFunds) for o in outcomes) == 10, outcomes
    _sound(pg_app)


def test_twenty_captures_of_one_hold_at_once_capture_it_once(pg_app, card):
    card_id, cafe_id = card
    hold_id = _placed(pg_app, card_id, cafe_id, amount=4_000)
    outcomes = at_once(pg_app, 20, lambda i: capture_hold(
        db.session, hold_id, Money(2_500 + i, "USD"), **_as_cafe(cafe_id, f"capture-{i}")
    ))
    captured = [o for o in outcomes if isinstance(o, Hold)]
    refused = [o for o in outcomes if isinstance(o, HoldNotOpen)]
    assert len(captured) == 1 and len(refused) == 19, outcomes
    with pg_app.app_context():
        hold = db.session.get(Hold, hold_id)
        assert hold.state == "captured" and 2_500 <= hold.captured < 2_520
        cafe_account = settlement_account(db.session, cafe_id, "USD")
        assert balance_of(db.session, cafe_account.id) == hold.captured
        # What the capture did not take went back: the card holds all but what was captured.
        assert db.session.get(GiftCard, card_id).account.balance == 10_000 - hold.captured
    _sound(pg_app)


def test_captures_and_releases_of_one_hold_at_once_finish_it_once(pg_app, card):
    card_id, cafe_id = card
    hold_id = _placed(pg_app, card_id, cafe_id, amount=4_000)

    def finish(i: int) -> Hold:
        if i % 2:
            return release_hold(db.session, hold_id, **_as_cafe(cafe_id, f"release-{i}"))
        return capture_hold(db.session, hold_id, None, **_as_cafe(cafe_id, f"capture-{i}"))

    outcomes = at_once(pg_app, 20, finish)
    assert sum(isinstance(o, Hold) for o in outcomes) == 1
    assert sum(isinstance(o, HoldNotOpen) for o in outcomes) == 19, outcomes
    with pg_app.app_context():
        hold = db.session.get(Hold, hold_id)
        expected = 10_000 if hold.state == "released" else 6_000
        assert db.session.get(GiftCard, card_id).account.balance == expected
    _sound(pg_app)


def test_the_sweep_and_tills_racing_over_lapsed_holds_free_each_once(pg_app, card):
    """Two sweeps and releases at once over holds past their time: each hold ends once, all its amount back."""
    card_id, cafe_id = card
    hold_ids = [_placed(pg_app, card_id, cafe_id, amount=500, expires_in_hours=1) for _ in range(10)]
    later = utcnow() + timedelta(hours=2)

    def sweep_or_release(i: int):
        if i < 2:
            return lapse_due(db.session, later)
        return release_hold(db.session, hold_ids[i], **_as_cafe(cafe_id, f"release-{i}"))

    outcomes = at_once(pg_app, 10, sweep_or_release)
    assert not [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, HoldNotOpen)], outcomes
    with pg_app.app_context():
        lapse_due(db.session, later)  # whatever a till's lock made the sweeps skip
        db.session.commit()
        states = db.session.scalars(sa.select(Hold.state).where(Hold.id.in_(hold_ids))).all()
        assert set(states) <= {"lapsed", "released"} and len(states) == 10
        assert db.session.get(GiftCard, card_id).account.balance == 10_000
    _sound(pg_app)
