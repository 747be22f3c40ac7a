"""Coupon timeframes and conditions (issue 27): weekdays and hours on the merchant's clock, first
order only, a maximum discount per use and per customer. Each rule, as the admin sets it and as a
use meets it; every refusal names its rule and changes nothing."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from portal.campaigns import redeem_coupon, validate_coupon
from portal.campaigns.definitions import CampaignInvalid, create_campaign, read_spec
from portal.errors import DomainError, ValidationError
from portal.extensions import db
from portal.ledger import Actor
from portal.merchants import create_merchant
from portal.models import Merchant, utcnow
from portal.models.campaigns import Campaign, CampaignCustomer, CampaignUse
from portal.money import Money
from portal.services import services
from tests.conftest import submit
from tests.factories import issue, make_coupon, pay_at_till, user
from tests.gifts import coupon as gift_coupon
from tests.gifts import everything, make_gift
from tests.pages import start_sale, text
from tests.reads import uses

# A Monday, 12:00 UTC: 13:00 in Dublin (summer time), 08:00 in New York.
MONDAY_NOON = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
CARA = "customer@example.com"


@pytest.fixture
def ctx(app, people):
    with app.app_context():
        yield db.session


def coupon(session, code="SAVE15", **rules) -> Campaign:
    raw = {"name": "Rules", "kind": "coupon", "discount_type": "percent", "discount_value": "15", "code_mode": "vanity",
           "code": code, **rules}
    campaign = create_campaign(session, services().vault, read_spec(session, raw, now=MONDAY_NOON), actor=Actor())
    session.commit()
    return campaign


def store(session, slug="corner-cafe") -> Merchant:
    return session.scalar(db.select(Merchant).where(Merchant.slug == slug))


def use(session, code="SAVE15", total="40.00", *, merchant=None, now=MONDAY_NOON, email=CARA, redeem=True, **kwargs):
    call = redeem_coupon if redeem else validate_coupon
    return call(session, services().vault, code, order_total=Money.parse(total, "USD"), merchant=merchant or store(session),
                channel="api", email=email, now=now, **kwargs)


def state(session, campaign) -> tuple:
    """Everything a use could change: the counters, the use rows, the customer's row."""
    session.expire_all()
    customer = session.scalars(db.select(CampaignCustomer).where(CampaignCustomer.campaign_id == campaign.id)).all()
    return (session.get(Campaign, campaign.id).uses, session.scalar(db.select(db.func.count(CampaignUse.id))),
            [(c.uses, c.discounted) for c in customer])


def refused(session, campaign, **kwargs) -> DomainError:
    """Both the quote and the use refuse alike, and neither changes anything."""
    before = state(session, campaign)
    messages = set()
    for redeem in (False, True):
        with pytest.raises(DomainError) as caught:
            use(session, redeem=redeem, **kwargs)
        session.rollback()
        messages.add((caught.value.code, caught.value.message))
    assert len(messages) == 1
    assert state(session, campaign) == before
    return caught.value


# --- As the admin sets them ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "field", "message"),
    [
        ({"weekdays": "Mon, Funday"}, "weekdays", "Funday is not a weekday: give Mon to Sun"),
        ({"weekdays": ["7"]}, "weekdays", "7 is not a weekday: give Mon to Sun"),
        ({"hours_from": "09:00"}, "hours_until", "Give the time the coupon stops working each day, like 17:00"),
        ({"hours_until": "17:00"}, "hours_from", "Give the time the coupon starts working each day, like 09:00"),
        ({"hours_from": "9am", "hours_until": "17:00"}, "hours_from", "Give a time of day like 09:00 or 17:30"),
        ({"hours_from": "09:00", "hours_until": "09:00"}, "hours_until",
         "The hours must not start and end at the same time"),
        ({"first_order_only": "maybe"}, "first_order_only", "Give true or false"),
        ({"max_discount": "20.00"}, "currency", "Give a currency for this amount"),
        ({"max_discount": "0.001", "currency": "USD"}, "max_discount", None),
        ({"max_discount_per_customer": "lots", "currency": "USD"}, "max_discount_per_customer", None),
    ],
)
def test_each_condition_is_read_with_a_message_on_its_field(ctx, rules, field, message):
    """Does read_spec name the field of each malformed condition, and create nothing?"""
    raw = {"name": "Bad", "kind": "coupon", "discount_type": "percent", "discount_value": "10", "code_mode": "vanity",
           "code": "BAD10", **rules}
    with pytest.raises(CampaignInvalid) as caught:
        read_spec(ctx, raw, now=MONDAY_NOON)
    assert field in caught.value.errors
    if message:
        assert caught.value.errors[field] == message
    assert ctx.scalar(db.select(db.func.count(Campaign.id))) == 0


def test_conditions_are_stored_as_given(ctx):
    campaign = coupon(ctx, weekdays=["Sat", "sunday", 0], hours_from="22:00", hours_until="02:00", first_order_only=True,
                      max_discount="20.00", max_discount_per_customer="50.00", currency="USD")
    assert (campaign.weekdays, campaign.hours_from, campaign.hours_until) == ([0, 5, 6], 22 * 60, 2 * 60)
    assert (campaign.first_order_only, campaign.max_discount, campaign.max_discount_per_customer) == (True, 2000, 5000)


def test_a_merchant_time_zone_must_be_a_real_one(ctx):
    with pytest.raises(ValidationError) as caught:
        create_merchant(ctx, "moon-base", "Moon Base", timezone="Moon/Crater")
    assert (caught.value.field, caught.value.message) == (
        "timezone", "Moon/Crater is not a time zone like Europe/Dublin or America/New_York")
    assert create_merchant(ctx, "dublin-deli", "Dublin Deli").timezone == "UTC"


# --- Weekdays and hours, on the merchant's clock ------------------------------------------------


def test_the_hours_are_read_on_the_merchants_clock(ctx):
    """12:00 UTC on a Monday is inside 09:00–12:30 in UTC, but 13:00 in Dublin is not."""
    dublin = create_merchant(ctx, "dublin-deli", "Dublin Deli", timezone="Europe/Dublin")
    campaign = coupon(ctx, weekdays="Mon", hours_from="09:00", hours_until="12:30")
    assert use(ctx, redeem=False).discount == Money.parse("6.00", "USD")
    error = refused(ctx, campaign, merchant=dublin)
    assert (error.code, error.message) == ("not_valid_here", "This coupon works only Mon 09:00–12:30 (Europe/Dublin time)")
    assert use(ctx, merchant=dublin, now=MONDAY_NOON - timedelta(hours=1)).quote.discount == Money.parse("6.00", "USD")


def test_a_weekday_coupon_is_refused_on_other_days(ctx):
    campaign = coupon(ctx, weekdays="Sat, Sun")
    error = refused(ctx, campaign)
    assert error.message == "This coupon works only Sat, Sun (UTC time)"
    saturday = MONDAY_NOON + timedelta(days=5)
    assert use(ctx, now=saturday).use.discount == 600


def test_hours_past_midnight_run_into_the_next_day(ctx):
    campaign = coupon(ctx, hours_from="22:00", hours_until="02:00")
    assert use(ctx, now=MONDAY_NOON.replace(hour=23, minute=30), reference="late").use.discount == 600
    assert use(ctx, now=MONDAY_NOON.replace(hour=1, minute=59), reference="early").use.discount == 600
    ctx.commit()
    assert refused(ctx, campaign, now=MONDAY_NOON.replace(hour=2)).message == "This coupon works only 22:00–02:00 (UTC time)"


# --- First order only -----------------------------------------------------------------------


def test_first_order_only_at_a_till_means_the_first_sale_at_this_merchant(ctx, app):
    """A sale paid with Cara's own card at the café before: refused there, still fine at the book shop."""
    nook = create_merchant(ctx, "book-nook", "The Book Nook")
    campaign = coupon(ctx, first_order_only=True)
    assert use(ctx, redeem=False).discount.minor == 600
    ctx.rollback()
    card_id, _ = issue(app, owner=CARA, amount="10.00")
    pay_at_till(app, card_id, "2.00")
    now = utcnow()
    error = refused(ctx, campaign, now=now)
    assert (error.code, error.message) == ("not_valid_here", "This coupon is for a customer's first purchase at Corner Café")
    assert use(ctx, merchant=nook, now=now).use.discount == 600


def test_a_coupon_used_at_this_merchant_before_makes_the_next_sale_not_a_first(ctx):
    campaign = coupon(ctx, first_order_only=True)
    use(ctx, reference="sale-1")
    ctx.commit()
    later = MONDAY_NOON + timedelta(minutes=5)
    assert refused(ctx, campaign, now=later).message == "This coupon is for a customer's first purchase at Corner Café"
    assert use(ctx, email="new@example.com", now=later).use.discount == 600


def test_first_order_only_needs_to_know_the_customer(ctx):
    campaign = coupon(ctx, first_order_only=True)
    error = refused(ctx, campaign, email=None)
    assert (error.code, error.field) == ("validation_error", "customer_email")


def test_first_order_only_in_the_shop_means_the_first_purchase(gifting):
    """A first gift takes the coupon; the buyer's second gift with it is refused and nothing is charged."""
    app = gifting
    gift_coupon(app, "FIRST10", first_order_only=True)
    make_gift(app, coupon_code="FIRST10")
    before = everything(app)
    with pytest.raises(DomainError) as caught:
        make_gift(app, coupon_code="FIRST10")
    assert (caught.value.code, caught.value.message) == ("not_valid_here", "This coupon is for a customer's first purchase")
    assert everything(app) == before


# --- Maximum discount -----------------------------------------------------------------------


def test_the_discount_per_use_is_capped(ctx):
    """15 % of 400.00 is 60.00; the coupon gives at most 20.00, and says so."""
    coupon(ctx, max_discount="20.00", currency="USD")
    quote = use(ctx, total="400.00", redeem=False)
    assert quote.discount == Money.parse("20.00", "USD") and quote.total_after == Money.parse("380.00", "USD")
    from portal.campaigns.rules import describe_value

    assert describe_value(quote.campaign) == "15% off, at most 20.00 USD"


def test_the_discount_per_customer_is_capped_then_refused(ctx):
    """A 25.00 cap at 15 % of 100.00: 15.00, then the 10.00 left, then a refusal naming the cap."""
    campaign = coupon(ctx, max_discount_per_customer="25.00", currency="USD")
    assert use(ctx, total="100.00", reference="a").use.discount == 1500
    assert use(ctx, total="100.00", reference="b").use.discount == 1000
    ctx.commit()
    error = refused(ctx, campaign, total="100.00")
    assert (error.code, error.message) == (
        "usage_limit_reached", "You have had the most discount this coupon gives one customer (25.00 USD)")
    assert state(ctx, campaign) == (2, 2, [(2, 2500)])
    assert use(ctx, total="100.00", email="other@example.com").use.discount == 1500


def test_the_cap_per_customer_needs_to_know_the_customer(ctx):
    campaign = coupon(ctx, max_discount_per_customer="25.00", currency="USD")
    error = refused(ctx, campaign, email=None)
    assert (error.code, error.field) == ("validation_error", "customer_email")


@pytest.mark.parametrize(
    ("taken", "asked"), [(2000, 1000), (2500, 0)], ids=["no-longer-fits", "nothing-at-the-cap"]
)
def test_the_cap_per_customer_is_held_by_the_statement_that_counts_the_use(ctx, taken, asked):
    """A use whose discount no longer fits (another till took the rest) is refused by count_use
    itself; so is a discount of nothing asked by a till that read the customer's record before
    another took the last of the cap, rather than counted as a fourth use (found by a 50-till race)."""
    from portal.campaigns.uses import count_use

    campaign = coupon(ctx, max_discount_per_customer="25.00", currency="USD")
    code = campaign_code(ctx, campaign)
    count_use(ctx, campaign, code, channel="api", email=CARA, discount=taken, currency="USD")
    before = state(ctx, campaign)
    with pytest.raises(DomainError) as caught:
        count_use(ctx, campaign, code, channel="api", email=CARA, discount=asked, currency="USD")
    assert caught.value.code == "usage_limit_reached"
    assert state(ctx, campaign) == before


def campaign_code(session, campaign):
    from portal.models.campaigns import CampaignCode

    return session.scalar(db.select(CampaignCode).where(CampaignCode.campaign_id == campaign.id))


# --- The till page and the API refuse with the same reasons -------------------------------------


def test_the_till_shows_why_a_coupon_is_outside_its_days(app, till):
    """A coupon for tomorrow's weekday only: refused at the till with its days, no use counted."""
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%a")
    campaign = make_coupon(app, weekdays=tomorrow)
    start_sale(till, "10.00")
    response = till.send("/till/coupon", **{"coupon-code": "SAVE20"})
    assert response.status_code == 422
    assert f"This coupon works only {tomorrow} (UTC time)" in text(till.html)
    assert uses(app, campaign) == (0, 0)


def test_the_api_caps_the_discount_and_refuses_past_the_customer_cap(app, people):
    from portal.tokens import create_token

    make_coupon(app, "CAP5", max_discount="5.00", max_discount_per_customer="8.00", currency="USD")
    with app.app_context():
        token = create_token(db.session, user(people["merchant"]), "tests")[1]
        db.session.commit()
    client = app.test_client()

    def redeem(key):
        return client.post("/api/v1/coupons/redeem", json={"code": "CAP5", "order_total": "100.00", "customer_email": CARA},
                           headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})

    assert redeem("k1").json["discount"] == "5.00"
    assert redeem("k2").json["discount"] == "3.00"
    refusal = redeem("k3")
    assert refusal.json["code"] == "usage_limit_reached"
    assert "You have had the most discount this coupon gives one customer (8.00 USD)" in refusal.json["detail"]


# --- The admin's forms ----------------------------------------------------------------------


COUPON_FORM = {"name": "Weekday lunch", "kind": "coupon", "currency": "USD", "discount_type": "percent",
               "discount_value": "15", "code_mode": "vanity", "code": "LUNCH15", "channels": ["web", "api"]}


def test_the_coupon_form_asks_for_the_conditions_and_the_gift_card_form_does_not(admin):
    coupon_page = text(admin.get("/admin/campaigns/new?kind=coupon"))
    for label in ("Weekdays", "Mon", "Sun", "From", "Until", "First order only", "Maximum discount per use",
                  "Maximum discount per customer"):
        assert label in coupon_page, label
    cards_page = text(admin.get("/admin/campaigns/new?kind=gift_card"))
    for label in ("Weekdays", "First order only", "Maximum discount per use"):
        assert label not in cards_page, label


def test_an_admin_sets_the_conditions_and_they_stay_through_an_edit(app, admin):
    response = submit(admin, "/admin/campaigns/new", {
        **COUPON_FORM, "weekdays": ["0", "4"], "hours_from": "11:30", "hours_until": "14:00", "first_order_only": "y",
        "max_discount": "20.00", "max_discount_per_customer": "50.00"})
    assert response.status_code == 303
    page = text(admin.get(response.headers["Location"]))
    assert "15% off, at most 20.00 USD" in page and "Most discount per customer 50.00 USD" in page
    assert "Works Mon, Fri 11:30–14:00" in page and "First order only" in page
    with app.app_context():
        campaign_id = db.session.scalar(db.select(Campaign.id))
    edit = admin.get(f"/admin/campaigns/{campaign_id}/edit").get_data(as_text=True)
    assert 'value="11:30"' in edit and 'value="14:00"' in edit and 'value="50.00"' in edit
    assert re.search(r'name="weekdays" value="4" checked', edit) and not re.search(r'name="weekdays" value="1" checked', edit)
    assert re.search(r'<input[^>]* checked[^>]* id="first_order_only"', edit)


def test_a_bad_timeframe_is_shown_by_its_field_and_nothing_is_created(app, admin):
    response = submit(admin, "/admin/campaigns/new", {**COUPON_FORM, "hours_from": "25:00", "hours_until": "14:00"})
    assert response.status_code == 422
    assert "Give a time of day like 09:00 or 17:30" in text(response)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Campaign.id))) == 0


def test_an_admin_gives_a_merchant_its_time_zone(app, admin):
    form = {"name": "Dublin Deli", "slug": "dublin-deli", "currency": "EUR", "loops_per_unit": "10",
            "sells_network_cards": "0"}
    refused_page = submit(admin, "/admin/merchants", {**form, "timezone": "Dublin"})
    assert refused_page.status_code == 422
    assert "Dublin is not a time zone like Europe/Dublin or America/New_York" in text(refused_page)
    assert submit(admin, "/admin/merchants", {**form, "timezone": "Europe/Dublin"}).status_code == 303
    with app.app_context():
        assert store(db.session, "dublin-deli").timezone == "Europe/Dublin"
