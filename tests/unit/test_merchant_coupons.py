"""Coupons at the till: the discount and the new total before any card pays, every refusal with
its reason and nothing counted, and one coupon per sale."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models.campaigns import Campaign, CampaignUse
from portal.services import services
from tests.factories import make_card, make_coupon
from tests.pages import start_sale, text
from tests.reads import balance, count, uses


def test_the_coupon_field_waits_for_the_total(app, till):
    """Is there no coupon field before the total is known, and one labelled "Coupon code" after?"""
    till.open()
    assert "Apply coupon" not in till.html
    start_sale(till, "10.00")
    assert "Coupon code" in text(till.html) and "Apply coupon" in till.html
    assert till.form("/till/coupon")


def test_a_coupon_shows_its_discount_and_the_new_total_and_the_card_pays_only_that(app, till):
    """SAVE20 on 10.00: does the sale show −2.00 and 8.00, and the card default to and take 8.00?"""
    campaign = make_coupon(app)
    code = make_card(app, "20.00")
    start_sale(till, "10.00")
    response = till.send("/till/coupon", **{"coupon-code": "save20"})
    assert response.status_code == 200
    words = text(till.html)
    assert "Coupon SAVE20: −2.00 USD" in words
    assert "new total 8.00 USD" in words
    assert "still to pay 8.00 USD" in words
    assert "Apply coupon" not in till.html  # one coupon per sale
    assert uses(app, campaign) == (1, 1)
    with app.app_context():
        use = db.session.scalar(sa.select(CampaignUse))
        assert (use.channel, use.order_total, use.discount, use.user_id is not None) == ("web", 1000, 200, True)
        assert use.reference.startswith("till:")

    till.look_up(code)
    assert till.form("/till/apply").fields["amount"] == "8.00"
    refused = till.apply("9.00")
    assert refused.status_code == 422
    assert "That is more than the 8.00 USD still to pay" in text(till.html)
    till.apply("8.00")
    words = text(till.html)
    assert "Applied 8.00 USD" in words and "Paid in full" in words
    assert balance(app, code) == "12.00"


def test_the_total_stays_the_one_the_coupon_was_given_on(app, till):
    """After the coupon, does an edited total in a later form change nothing?"""
    make_coupon(app)
    code = make_card(app, "50.00")
    start_sale(till, "10.00")
    till.send("/till/coupon", **{"coupon-code": "SAVE20"})
    till.send("/till/lookup", code=code, total="40.00")
    assert till.form("/till/apply").fields["amount"] == "8.00"
    assert till.apply("30.00").status_code == 422
    assert count(app, "redeem") == 0


def expire(app, campaign_id: int) -> None:
    with app.app_context():
        db.session.get(Campaign, campaign_id).expires_at = datetime(2020, 1, 1, tzinfo=timezone.utc)
        db.session.commit()


def use_up(app, campaign_id: int) -> None:
    from portal.campaigns import redeem_coupon
    from portal.models import Merchant
    from portal.money import Money

    with app.app_context():
        cafe = db.session.scalar(sa.select(Merchant).where(Merchant.slug == "corner-cafe"))
        redeem_coupon(db.session, services().vault, "SAVE20", order_total=Money.parse("10.00", "USD"),
                      merchant=cafe, channel="web", reference="till:elsewhere")
        db.session.commit()


@pytest.mark.parametrize(
    ("rules", "before", "typed", "reason"),
    [
        ({}, expire, "SAVE20", "This code has expired"),
        ({"max_uses": 1}, use_up, "SAVE20", "This code has been used the maximum number of times"),
        ({"min_order": "50.00", "currency": "USD"}, None, "SAVE20", "This coupon needs an order of at least 50.00 USD"),
        ({}, None, "NOPE99", "We don't recognise that code: please check it and try again"),
        ({"channels": ["api"]}, None, "SAVE20", "This code can only be used through the API"),
    ],
    ids=["expired", "used-up", "below-minimum", "unknown", "api-only"],
)
def test_a_refused_coupon_shows_its_reason_and_counts_no_use(app, till, rules, before, typed, reason):
    """Does each refusal come back 422 with its reason by the field, the sale unchanged and no use counted?"""
    campaign = make_coupon(app, **rules)
    if before is not None:
        before(app, campaign)
    counted = uses(app, campaign)
    start_sale(till, "10.00")
    response = till.send("/till/coupon", **{"coupon-code": typed})
    assert response.status_code == 422
    assert 'id="coupon-code-error"' in till.html and reason in text(till.html)
    assert 'aria-invalid="true"' in till.html
    assert uses(app, campaign) == counted
    assert "still to pay" not in text(till.html)  # nothing taken off: the total can still change
    assert till.form("/till/coupon").fields["coupon-code"] == typed  # try again from the same field


def test_the_same_sale_cannot_take_two_coupons(app, till):
    """Does a second coupon (or the first form sent again) say the sale has one, and count nothing?"""
    first, second = make_coupon(app), make_coupon(app, code="TENOFF", discount_type="fixed",
                                                    discount_value="1.00", currency="USD")
    start_sale(till, "10.00")
    form = till.form("/till/coupon")
    till.send("/till/coupon", **{"coupon-code": "SAVE20"})
    for typed in ("TENOFF", "SAVE20"):
        response = till.client.post("/till/coupon", data={**form.fields, "coupon-code": typed},
                                    headers={"HX-Request": "true"})
        assert response.status_code == 422
        words = text(response.get_data(as_text=True))
        assert "This sale already has a coupon: one coupon per sale." in words
        assert "Coupon SAVE20: −2.00 USD" in words
    assert uses(app, first) == (1, 1) and uses(app, second) == (0, 0)


def test_no_coupon_once_a_card_has_paid(app, till):
    """A coupon comes before the cards: is the field gone once a card paid, and a stale form refused?"""
    campaign = make_coupon(app)
    code = make_card(app, "5.00")
    start_sale(till, "10.00")
    form = till.form("/till/coupon")
    till.look_up(code)
    till.apply()
    assert "Apply coupon" not in till.html
    response = till.client.post("/till/coupon", data={**form.fields, "coupon-code": "SAVE20"})
    assert response.status_code == 422
    assert "a coupon must come before the cards" in text(response.get_data(as_text=True))
    assert uses(app, campaign) == (0, 0)
