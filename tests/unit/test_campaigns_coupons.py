"""Coupons at the till: the discount, every refusal with its message, and nothing counted on a refusal."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from portal.campaigns import redeem_coupon, validate_coupon
from portal.campaigns.definitions import create_campaign, read_spec
from portal.campaigns.generation import generate_batch, request_generation
from portal.extensions import db
from portal.ledger import Actor
from portal.merchants import create_merchant
from portal.models import Merchant
from portal.models.campaigns import Campaign, CampaignCustomer, CampaignUse
from portal.money import Money
from portal.services import services
from tests.reads import refusal

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def ctx(app, people):
    with app.app_context():
        yield db.session


def coupon(session, code="SAVE15", **rules) -> Campaign:
    raw = {"name": "Summer", "kind": "coupon", "discount_type": "percent", "discount_value": "15", "code_mode": "vanity", "code": code}
    raw.update(rules)
    campaign = create_campaign(session, services().vault, read_spec(session, raw, now=NOW), actor=Actor())
    session.commit()
    return campaign


def cafe(session) -> Merchant:
    return session.scalar(db.select(Merchant).where(Merchant.slug == "corner-cafe"))


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def quote(session, code="SAVE15", total="40.00", **kwargs):
    kwargs.setdefault("merchant", cafe(session))
    kwargs.setdefault("channel", "api")
    kwargs.setdefault("now", NOW)
    return validate_coupon(session, services().vault, code, order_total=usd(total), **kwargs)


def use(session, code="SAVE15", total="40.00", **kwargs):
    kwargs.setdefault("merchant", cafe(session))
    kwargs.setdefault("channel", "api")
    kwargs.setdefault("now", NOW)
    return redeem_coupon(session, services().vault, code, order_total=usd(total), **kwargs)


def counted(session, campaign) -> tuple[int, int, int]:
    session.expire_all()
    uses = session.get(Campaign, campaign.id).uses
    rows = session.scalar(db.select(db.func.count(CampaignUse.id)))
    customers = session.scalar(db.select(db.func.coalesce(db.func.sum(CampaignCustomer.uses), 0)))
    return uses, rows, customers


def test_a_percent_coupon_takes_its_share_rounded_half_up_and_uses_nothing(ctx):
    """Does validate answer 15% of 33.33 = 5.00 (4.9995 rounded) and leave the count alone?"""
    campaign = coupon(ctx)
    answer = quote(ctx, total="33.33")
    assert answer.discount == usd("5.00") and answer.total_after == usd("28.33")
    assert counted(ctx, campaign) == (0, 0, 0)


def test_a_fixed_coupon_never_takes_more_than_the_order(ctx):
    coupon(ctx, "FIVEOFF", discount_type="fixed", discount_value="5.00", currency="USD")
    assert quote(ctx, "FIVEOFF", total="3.00").discount == usd("3.00")
    assert quote(ctx, "fiveoff", total="12.00").total_after == usd("7.00")


def test_redeeming_counts_one_use_with_what_it_gave(ctx):
    campaign = coupon(ctx, max_uses="2")
    done = use(ctx, total="20.00", reference="sale-1", email="Cara@Example.com")
    ctx.commit()
    assert done.quote.discount == usd("3.00")
    row = ctx.get(CampaignUse, done.use.id)
    assert (row.discount, row.order_total, row.currency, row.reference, row.email, row.channel) == (
        300, 2000, "USD", "sale-1", "cara@example.com", "api",
    )
    assert counted(ctx, campaign) == (1, 1, 0)


@pytest.mark.parametrize(
    ("rules", "kwargs", "code", "message"),
    [
        ({"expires_at": "2026-05-31"}, {}, "expired", "This code has expired"),
        ({"valid_days": "1"}, {"now": NOW + timedelta(days=400)}, "expired", "This code has expired"),
        ({"channels": "web"}, {}, "not_valid_here", "This code can only be used on the Giftloop website"),
        ({"merchants": "book-nook"}, {}, "not_valid_here", "This code can only be used at The Book Nook"),
        ({"allowed_domains": "staff.example.com"}, {"email": "cara@example.com"}, "not_valid_here",
         "This code is not valid for your e-mail address"),
        ({"allowed_domains": "staff.example.com"}, {}, "validation_error", "This code needs the customer's e-mail address"),
        ({"min_order": "50.00", "currency": "USD"}, {}, "not_valid_here", "This coupon needs an order of at least 50.00 USD"),
        ({"min_order": "50.00", "currency": "EUR"}, {}, "currency_mismatch", "This coupon is for orders in EUR, not USD"),
        ({"uses_per_user": "1"}, {}, "validation_error",
         "This code is limited per customer: give the customer's e-mail address"),
        ({}, {"email": "not an address"}, "validation_error", "Enter an e-mail address like name@example.com"),
    ],
)
def test_each_rule_refuses_with_its_message_and_counts_nothing(ctx, rules, kwargs, code, message):
    """Is every refusal clear, carries its stable code, and leaves every counter as it was?"""
    create_merchant(ctx, "book-nook", "The Book Nook")
    if "expires_at" in rules:
        campaign = coupon(ctx)
        campaign.expires_at = datetime(2026, 6, 1, tzinfo=timezone.utc)  # passed by NOW
        ctx.commit()
    else:
        campaign = coupon(ctx, **rules)
    for call in (lambda: quote(ctx, **kwargs), lambda: use(ctx, **kwargs)):
        error = refusal(call)
        assert (error.code, error.message) == (code, message)
        ctx.rollback()
    assert counted(ctx, campaign) == (0, 0, 0)


def test_the_total_limit_stops_at_exactly_its_number(ctx):
    campaign = coupon(ctx, max_uses="2")
    use(ctx)
    use(ctx)
    ctx.commit()
    for call in (quote, use):
        error = refusal(lambda: call(ctx))
        assert (error.code, error.message) == ("usage_limit_reached", "This code has been used the maximum number of times")
    assert counted(ctx, campaign) == (2, 2, 0)


def test_the_per_customer_limit_counts_by_address(ctx):
    """Does one customer get their two uses, and another customer still get theirs?"""
    campaign = coupon(ctx, uses_per_user="2")
    use(ctx, email="cara@example.com")
    use(ctx, email="CARA@example.com")
    ctx.commit()
    error = refusal(lambda: use(ctx, email="cara@example.com"))
    assert (error.code, error.message) == ("already_redeemed", "You have already used this code 2 times, the most allowed")
    ctx.rollback()
    use(ctx, email="dan@example.com")
    ctx.commit()
    assert counted(ctx, campaign) == (3, 3, 3)


def test_once_per_customer_says_so(ctx):
    coupon(ctx, uses_per_user="1")
    use(ctx, email="cara@example.com")
    ctx.commit()
    error = refusal(lambda: quote(ctx, email="cara@example.com"))
    assert (error.code, error.message) == ("already_redeemed", "You have already used this code")


def test_a_random_coupon_code_is_used_once(ctx):
    """A bulk coupon (one code per customer) is single-use: the second till hears "already used"."""
    campaign = create_campaign(
        ctx, services().vault,
        read_spec(ctx, {"name": "Unique", "kind": "coupon", "discount_type": "percent", "discount_value": "10",
                        "code_mode": "random", "code_prefix": "ONE"}, now=NOW),
        actor=Actor(),
    )
    job = request_generation(ctx, campaign, 1, actor=Actor(), now=NOW)
    generate_batch(ctx, services().vault, job, 1, now=NOW)
    ctx.commit()
    from portal.campaigns.exports import export_rows

    code = list(export_rows(ctx, services().vault, campaign, full=True))[1][0]
    assert code.startswith("ONE-")
    # Look-alikes typed after the prefix still find it.
    sloppy = code.lower().replace("0", "o").replace("1", "l")
    use(ctx, sloppy)
    ctx.commit()
    error = refusal(lambda: use(ctx, code))
    assert (error.code, error.message) == ("already_redeemed", "This code was already used")


def test_unknown_codes_and_codes_that_are_not_coupons(ctx):
    coupon(ctx)
    credit = create_campaign(
        ctx, services().vault,
        read_spec(ctx, {"name": "Credit", "kind": "credit", "currency": "USD", "value": "5", "code_mode": "vanity", "code": "FREE5"}, now=NOW),
        actor=Actor(),
    )
    ctx.commit()
    error = refusal(lambda: quote(ctx, "NOPE99"))
    assert (error.code, error.message) == ("not_found", "We don't recognise that code: please check it and try again")
    error = refusal(lambda: quote(ctx, "FREE5"))
    assert (error.code, error.message) == ("validation_error", "That code is not a coupon: customers redeem it in their wallet")
    credit.deleted_at = NOW
    ctx.commit()
    assert refusal(lambda: quote(ctx, "FREE5")).code == "not_found"
