"""Posting without a savepoint: a refused leg or a taken key leaves every balance as it was."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.errors import IdempotencyConflict, InsufficientFunds
from portal.extensions import db
from portal.ledger import SYSTEM, account_for, fingerprint, post_or_replay, system_account
from portal.models import Account, Entry, Transaction


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


def balances(session) -> dict[str, int]:
    return dict(session.execute(sa.select(Account.key, Account.balance)).all())


def counts(session) -> tuple[int, int]:
    return session.scalar(sa.select(sa.func.count(Transaction.id))), session.scalar(sa.select(sa.func.count(Entry.id)))


def test_a_refused_debit_takes_back_the_credit_posted_before_it(session):
    """With the credited account first in id order, does a short debit leave both balances and no rows?"""
    receiving = account_for(session, "wallet:1:USD", "wallet", "USD")
    paying = account_for(session, "wallet:2:USD", "wallet", "USD")
    post_or_replay(
        session, kind="adjust", actor=SYSTEM, idempotency_key="fund", request_hash=fingerprint("fund"),
        legs=[(system_account(session, "adjustments", "USD"), -500), (paying, 500)],
    )
    session.commit()
    assert receiving.id < paying.id
    before, rows = balances(session), counts(session)
    with pytest.raises(InsufficientFunds) as refused:
        post_or_replay(
            session, kind="transfer", actor=SYSTEM, idempotency_key="too-much", request_hash=fingerprint("x"),
            legs=[(receiving, 800), (paying, -800)],
        )
    assert refused.value.account is paying
    session.expire_all()
    assert balances(session) == before and counts(session) == rows
    assert (receiving.balance, paying.balance) == (0, 500)


def test_a_key_already_posted_answers_with_its_transaction_and_moves_nothing_again(session):
    """Does the same key and request return the first transaction, and another request under it refuse?"""
    card = account_for(session, "card:1", "card", "USD")
    legs = [(system_account(session, "issuance", "USD"), -300), (card, 300)]
    first, replayed = post_or_replay(
        session, kind="issue", actor=SYSTEM, idempotency_key="once", request_hash=fingerprint("a"), legs=legs,
    )
    session.commit()
    assert not replayed
    again, replayed = post_or_replay(
        session, kind="issue", actor=SYSTEM, idempotency_key="once", request_hash=fingerprint("a"), legs=legs,
    )
    assert replayed and again.id == first.id
    assert [(e.account_id, e.amount) for e in again.entries] == [(legs[0][0].id, -300), (card.id, 300)]
    with pytest.raises(IdempotencyConflict):
        post_or_replay(
            session, kind="issue", actor=SYSTEM, idempotency_key="once", request_hash=fingerprint("b"), legs=legs,
        )
    session.expire_all()
    assert card.balance == 300 and counts(session) == (1, 2)


def test_a_key_whose_first_request_emptied_the_account_still_answers_with_that_request(session):
    """If the first request under a key spent everything, is its twin a replay, not 'not enough'?"""
    card = account_for(session, "card:1", "card", "USD")
    issuance = system_account(session, "issuance", "USD")
    post_or_replay(
        session, kind="issue", actor=SYSTEM, idempotency_key="fund", request_hash=fingerprint("fund"),
        legs=[(issuance, -300), (card, 300)],
    )
    spend = dict(kind="redeem", actor=SYSTEM, idempotency_key="all", request_hash=fingerprint("all"),
                 legs=[(card, -300), (issuance, 300)])
    first, _ = post_or_replay(session, **spend)
    session.commit()
    again, replayed = post_or_replay(session, **spend)
    assert replayed and again.id == first.id
    session.expire_all()
    assert card.balance == 0 and counts(session) == (2, 4)


def test_a_post_after_a_rolled_back_one_takes_its_place_even_where_sqlite_reuses_the_id(session):
    """A posting rolled back while something still holds it, then another: does the second post
    (given the same ids again by SQLite) go through and stay the only transaction?"""
    funding = system_account(session, "adjustments", "USD")
    wallet = account_for(session, "wallet:1:USD", "wallet", "USD")
    session.commit()
    legs = [(funding, -100), (wallet, 100)]
    undone, _ = post_or_replay(session, kind="adjust", actor=SYSTEM, idempotency_key="undone",
                            request_hash=fingerprint("undone"), legs=legs)
    undone_id = undone.id
    session.rollback()
    kept, _ = post_or_replay(session, kind="adjust", actor=SYSTEM, idempotency_key="kept",
                          request_hash=fingerprint("kept"), legs=legs)
    session.commit()
    assert kept.id == undone_id  # the id SQLite gave out again
    assert counts(session) == (1, 2) and balances(session)["wallet:1:USD"] == 100
