"""A customer's "Redeem a code": credit to the wallet, features unlocked, and every refusal."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from portal.auth.users import create_user
from portal.campaigns import active_entitlements, grant, has_feature, redeem_code
from portal.campaigns.definitions import create_campaign, read_spec
from portal.extensions import db
from portal.ledger import Actor, verify
from portal.models import Account, Transaction, User
from portal.models.campaigns import Campaign, CampaignUse, Entitlement
from portal.services import services
from tests.reads import refusal

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def ctx(app, people):
    with app.app_context():
        yield db.session


def user(session, email="customer@example.com") -> User:
    return session.scalar(db.select(User).where(User.email == email))


def campaign(session, **raw) -> Campaign:
    made = create_campaign(session, services().vault, read_spec(session, {"name": "Promo", **raw}, now=NOW), actor=Actor())
    session.commit()
    return made


def credit(session, code="FREE5", **rules) -> Campaign:
    return campaign(session, kind="credit", currency="USD", value="5.00", code_mode="vanity", code=code, **rules)


def plus(session, code="PLUS30", **rules) -> Campaign:
    return campaign(session, kind="feature", feature="plus", feature_days="30", code_mode="vanity", code=code, **rules)


def wallet(session, who="customer@example.com") -> int:
    return session.scalar(db.select(Account.balance).where(Account.key == f"wallet:{user(session, who).id}:USD")) or 0


def test_a_credit_code_adds_its_value_to_the_wallet(ctx):
    """Does FREE5 put 5.00 USD in the wallet, as a credit_code transaction from promotions?"""
    made = credit(ctx)
    result = redeem_code(ctx, services().vault, user(ctx), "free-5", now=NOW)
    ctx.commit()
    assert result.kind == "credit" and result.message == "5.00 USD was added to your wallet"
    assert wallet(ctx) == 500
    assert result.transaction.kind == "credit_code"
    assert ctx.get(CampaignUse, result.use.id).transaction_id == result.transaction.id
    assert ctx.get(Campaign, made.id).uses == 1
    assert verify(ctx) == []


def test_a_feature_code_unlocks_until_a_date_and_extends_an_active_one(ctx):
    """Does PLUS30 unlock Plus for 30 days, and a second code add 30 more to the end?"""
    plus(ctx)
    plus(ctx, code="PLUSMORE")
    first = redeem_code(ctx, services().vault, user(ctx), "PLUS30", now=NOW)
    assert (first.feature, first.until) == ("plus", NOW + timedelta(days=30))
    assert first.message == f"Plus is unlocked until {(NOW + timedelta(days=30)).day} July 2026"
    second = redeem_code(ctx, services().vault, user(ctx), "PLUSMORE", now=NOW + timedelta(days=10))
    ctx.commit()
    assert second.until == NOW + timedelta(days=60)
    assert has_feature(ctx, user(ctx), "plus", now=NOW + timedelta(days=59))
    assert not has_feature(ctx, user(ctx), "plus", now=NOW + timedelta(days=61))
    assert ctx.scalar(db.select(db.func.count(Entitlement.id))) == 1


def test_an_ended_entitlement_starts_again_from_now(ctx):
    customer = user(ctx)
    grant(ctx, customer, "plus", 5, now=NOW)
    later = NOW + timedelta(days=20)
    renewed = grant(ctx, customer, "plus", 5, now=later)
    assert (renewed.starts_at, renewed.ends_at) == (later, later + timedelta(days=5))
    assert [e.feature for e in active_entitlements(ctx, customer, now=later)] == ["plus"]


def state(session) -> tuple:
    session.expire_all()
    balances = tuple(session.execute(db.select(Account.key, Account.balance).order_by(Account.id)).all())
    return (
        balances,
        session.scalar(db.select(db.func.count(Transaction.id))),
        session.scalar(db.select(db.func.count(CampaignUse.id))),
        tuple(session.scalars(db.select(Campaign.uses).order_by(Campaign.id))),
        session.scalar(db.select(db.func.count(Entitlement.id))),
    )


@pytest.mark.parametrize(
    ("rules", "text", "when", "code", "message"),
    [
        ({"valid_days": "1"}, "FREE5", timedelta(days=400), "expired", "This code has expired"),
        ({"allowed_domains": "staff.example.com"}, "FREE5", timedelta(), "not_valid_here", "This code is not valid for your e-mail address"),
        ({"channels": "api"}, "FREE5", timedelta(), "not_valid_here", "This code can only be used through the API"),
        ({}, "NOSUCH", timedelta(), "not_found", "We don't recognise that code: please check it and try again"),
        ({}, "", timedelta(), "validation_error", "Enter a code"),
    ],
)
def test_each_refusal_says_why_and_changes_nothing(ctx, rules, text, when, code, message):
    credit(ctx, **rules)
    before = state(ctx)
    error = refusal(lambda: redeem_code(ctx, services().vault, user(ctx), text, now=NOW + when))
    ctx.rollback()
    assert (error.code, error.message) == (code, message)
    assert state(ctx) == before


def test_a_used_up_code_says_so_and_credits_nothing(ctx):
    credit(ctx, max_uses="1")
    create_user(ctx, "dan@example.com", "a long password", name="Dan")
    redeem_code(ctx, services().vault, user(ctx), "FREE5", now=NOW)
    ctx.commit()
    before = state(ctx)
    error = refusal(lambda: redeem_code(ctx, services().vault, user(ctx, "dan@example.com"), "FREE5", now=NOW))
    ctx.rollback()
    assert (error.code, error.message) == ("usage_limit_reached", "This code has been used the maximum number of times")
    assert state(ctx) == before and wallet(ctx, "dan@example.com") == 0


def test_a_customer_cannot_use_a_once_per_customer_code_twice(ctx):
    credit(ctx, uses_per_user="1")
    redeem_code(ctx, services().vault, user(ctx), "FREE5", now=NOW)
    ctx.commit()
    before = state(ctx)
    error = refusal(lambda: redeem_code(ctx, services().vault, user(ctx), "FREE5", now=NOW))
    ctx.rollback()
    assert (error.code, error.message) == ("already_redeemed", "You have already used this code")
    assert state(ctx) == before and wallet(ctx) == 500


def test_coupons_card_codes_and_staff_are_turned_away(ctx):
    campaign(ctx, kind="coupon", discount_type="percent", discount_value="10", code_mode="vanity", code="TENOFF")
    credit(ctx)
    error = refusal(lambda: redeem_code(ctx, services().vault, user(ctx), "TENOFF", now=NOW))
    assert error.message == "That is a discount coupon: show it at the till when you pay"
    from portal.cards.codes import generate_card_code

    error = refusal(lambda: redeem_code(ctx, services().vault, user(ctx), generate_card_code(), now=NOW))
    assert error.message == "That is a gift card code: add it to your wallet as a card"
    error = refusal(lambda: redeem_code(ctx, services().vault, user(ctx, "staff@example.com"), "FREE5", now=NOW))
    assert error.message == "Only customer accounts can redeem codes"
