"""Many tills at once on PostgreSQL: the database itself keeps a card from being overdrawn."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.cards import operations as ops
from portal.errors import InsufficientFunds
from portal.extensions import db
from portal.ledger import Actor, verify
from portal.models import GiftCard, Merchant, Transaction
from portal.money import Money
from portal.services import services
from tests.concurrency import at_once
from tests.factories import card_and_cafe

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("payment_path")]  # both ways of paying


@pytest.fixture
def ten_dollar_card(pg_app):
    """A committed $10 network card and the café that takes it: (card id, merchant id)."""
    return card_and_cafe(pg_app, "10.00")


def _pay(card_id: int, cafe_id: int, key: str, amount: int = 100):
    card = db.session.get(GiftCard, card_id)
    cafe = db.session.get(Merchant, cafe_id)
    return ops.redeem(db.session, card, Money(amount, "USD"), actor=Actor(user_id=None, merchant_id=cafe_id),
                      idempotency_key=key, merchant=cafe)


def test_fifty_tills_paying_a_dollar_each_from_a_ten_dollar_card_get_exactly_ten_payments(pg_app, ten_dollar_card):
    """Do 50 simultaneous $1 payments from a $10 card give exactly 10 successes and 40 refusals?"""
    card_id, cafe_id = ten_dollar_card
    outcomes = at_once(pg_app, 50, lambda i: _pay(card_id, cafe_id, f"till-{i}"))
    paid = [o for o in outcomes if isinstance(o, ops.Redemption)]
    refused = [o for o in outcomes if isinstance(o, InsufficientFunds)]
    assert len(paid) == 10 and len(refused) == 40, [o for o in outcomes if not isinstance(o, (ops.Redemption, InsufficientFunds))]
    with pg_app.app_context():
        card = db.session.get(GiftCard, card_id)
        assert card.account.balance == 0
        assert db.session.scalar(sa.select(sa.func.count()).where(Transaction.kind == "redeem")) == 10
        assert verify(db.session) == []


def test_partial_payments_racing_never_take_more_than_the_card_holds(pg_app, ten_dollar_card):
    """Do 20 simultaneous 'take up to $3' payments apply exactly $10 between them?"""
    card_id, cafe_id = ten_dollar_card

    def take_up_to_three(i):
        card = db.session.get(GiftCard, card_id)
        return ops.redeem(db.session, card, Money(300, "USD"), actor=Actor(), idempotency_key=f"partial-{i}",
                          merchant=db.session.get(Merchant, cafe_id), allow_partial=True)

    outcomes = at_once(pg_app, 20, take_up_to_three)
    applied = sorted(o.applied.minor for o in outcomes if isinstance(o, ops.Redemption))
    assert sum(applied) == 1000 and applied == [100, 300, 300, 300]
    assert all(isinstance(o, (ops.Redemption, InsufficientFunds)) for o in outcomes)
    with pg_app.app_context():
        assert verify(db.session) == []


def test_ten_retries_of_one_payment_make_one_transaction(pg_app, ten_dollar_card):
    """Do 10 threads sending the same idempotency key all get the one same payment?"""
    card_id, cafe_id = ten_dollar_card
    outcomes = at_once(pg_app, 10, lambda i: _pay(card_id, cafe_id, "till-retry", amount=250).transaction.id)
    assert len(set(outcomes)) == 1 and isinstance(outcomes[0], int), outcomes
    with pg_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Transaction.kind == "redeem")) == 1
        assert db.session.get(GiftCard, card_id).account.balance == 750
        assert verify(db.session) == []


def test_ten_retries_of_one_card_sale_issue_one_card(pg_app, ten_dollar_card):
    """Do 10 threads issuing under one key create one card (the losers' cards roll back)?"""
    outcomes = at_once(pg_app, 10, lambda i: ops.issue_card(
        db.session, services().vault, amount=Money(2000, "USD"), actor=Actor(user_id=None), idempotency_key="sale-9",
    ).card.id)
    assert len(set(outcomes)) == 1 and isinstance(outcomes[0], int), outcomes
    with pg_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(GiftCard.id))) == 2
        assert verify(db.session) == []


def test_on_postgresql_history_gives_whole_numbers_and_verify_names_a_tampered_account(pg_app, ten_dollar_card):
    """Are history amounts plain ints on PostgreSQL (its SUM is NUMERIC), and is tampering named?"""
    from portal.ledger import history

    card_id, cafe_id = ten_dollar_card
    with pg_app.app_context():
        _pay(card_id, cafe_id, "till-1", amount=300)
        db.session.commit()
        card = db.session.get(GiftCard, card_id)
        lines = history(db.session, card.account_id)
        assert [(t.kind, amount) for t, amount in lines] == [("redeem", -300), ("issue", 1000)]
        assert all(type(amount) is int for _, amount in lines)
        db.session.execute(sa.text(f"UPDATE accounts SET balance = balance + 1 WHERE key = 'card:{card_id}'"))
        assert verify(db.session) == [f"card:{card_id}: balance 701 but its entries sum to 700"]
        db.session.rollback()
