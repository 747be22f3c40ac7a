"""Every use of a campaign's codes and the coupon report (issue 27): who, when, which channel and the order
total per use; per coupon campaign the order value it touched and the discount it gave; both as CSV."""

from __future__ import annotations

import csv
import io

import pytest

from portal.campaigns import redeem_code, redeem_coupon
from portal.campaigns.definitions import create_campaign, read_spec
from portal.extensions import db
from portal.ledger import Actor
from portal.models import utcnow
from portal.money import Money
from portal.services import services
from tests.factories import merchant_by_slug, user
from tests.pages import text


def campaign(app, **raw) -> int:
    with app.app_context():
        spec = read_spec(db.session, {"code_mode": "vanity", **raw}, now=utcnow())
        made = create_campaign(db.session, services().vault, spec, actor=Actor())
        db.session.commit()
        return made.id


def at_till(app, total: str, *, channel="web", email=None, reference=None) -> None:
    """A coupon applied to an order at the Corner Café, as its till or its API does."""
    with app.app_context():
        redeem_coupon(db.session, services().vault, "SAVE10", order_total=Money.parse(total, "USD"),
                      merchant=merchant_by_slug("corner-cafe"), channel=channel, email=email, reference=reference)
        db.session.commit()


@pytest.fixture
def save10(app, people) -> int:
    """A 10 % coupon used twice: by Cara on a 50.00 order at the till, by nobody named on 20.00 through the API."""
    made = campaign(app, name="Spring ten", kind="coupon", currency="USD", discount_type="percent",
                    discount_value="10", code="SAVE10")
    at_till(app, "50.00", email="customer@example.com", reference="T-1")
    at_till(app, "20.00", channel="api", reference="=HYPERLINK(1)")
    return made


def test_the_uses_page_shows_who_when_which_channel_and_the_order_total(admin, save10):
    """Does the admin reach the uses from the campaign, and read each use and what the coupon did to sales?"""
    detail = admin.get(f"/admin/campaigns/{save10}").get_data(as_text=True)
    assert f'href="/admin/campaigns/{save10}/uses"' in detail and "See every use and the revenue impact" in detail
    page = admin.get(f"/admin/campaigns/{save10}/uses")
    assert page.status_code == 200
    words = text(page)
    assert "Uses of Spring ten" in words
    assert ("Revenue impact Uses Order value touched Discount given Paid after discount Average order Discount share "
            "2 70.00 USD 7.00 USD 63.00 USD 35.00 USD 10%") in words
    # Newest first; the till's customer by address, the API's order with nobody named.
    assert "Not given API Corner Café •••E10 20.00 USD 2.00 USD =HYPERLINK(1)" in words
    assert "customer@example.com Web Corner Café •••E10 50.00 USD 5.00 USD T-1" in words
    assert words.index("=HYPERLINK(1)") < words.index("T-1")
    html = page.get_data(as_text=True)
    for label in ("When", "Who", "Channel", "Merchant", "Code", "Order total", "Discount", "Reference", "Uses",
                  "Order value touched"):
        assert f'data-label="{label}"' in html


def test_the_uses_download_as_csv_safe_to_open(admin, save10):
    response = admin.get(f"/admin/campaigns/{save10}/uses.csv")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="campaign-{save10}-uses.csv"'
    header, api_use, till_use = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert header == ["used_at", "who", "channel", "merchant", "code", "order_total", "discount", "currency", "reference"]
    assert api_use[1:] == ["", "api", "Corner Café", "***E10", "20.00", "2.00", "USD", "'=HYPERLINK(1)"]
    assert till_use[1:] == ["customer@example.com", "web", "Corner Café", "***E10", "50.00", "5.00", "USD", "T-1"]


def test_a_credit_codes_uses_name_the_customer_and_have_no_order(app, admin, people):
    made = campaign(app, name="Welcome credit", kind="credit", currency="USD", value="5.00", code="FREE5")
    assert "Nobody has used a code of this campaign yet." in text(admin.get(f"/admin/campaigns/{made}/uses"))
    with app.app_context():
        redeem_code(db.session, services().vault, user("customer@example.com"), "FREE5", channel="api")
        db.session.commit()
    words = text(admin.get(f"/admin/campaigns/{made}/uses"))
    assert "customer@example.com API — •••E5 — — —" in words and "Revenue impact" not in words


def test_the_coupon_report_lists_each_coupon_campaigns_revenue_impact(app, admin, save10):
    """Is every used coupon campaign reported, the largest order value first, on the page and as CSV?"""
    other = campaign(app, name="Autumn", kind="coupon", currency="USD", discount_type="fixed", discount_value="3.00",
                     code="AUTUMN3")
    with app.app_context():
        redeem_coupon(db.session, services().vault, "AUTUMN3", order_total=Money.parse("12.00", "USD"), merchant=None,
                      channel="web")
        db.session.commit()
    index = admin.get("/admin/campaigns").get_data(as_text=True)
    assert 'href="/admin/campaigns/coupons"' in index
    words = text(admin.get("/admin/campaigns/coupons"))
    assert "Spring ten 2 70.00 USD 7.00 USD 63.00 USD 35.00 USD 10% Autumn 1 12.00 USD 3.00 USD 9.00 USD 12.00 USD 25%" in words
    assert f'href="/admin/campaigns/{other}/uses"' in admin.get("/admin/campaigns/coupons").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(admin.get("/admin/campaigns/coupons.csv").get_data(as_text=True))))
    assert rows == [
        ["campaign_id", "campaign", "currency", "uses", "order_value", "discount", "paid", "average_order",
         "discount_percent"],
        [str(save10), "Spring ten", "USD", "2", "70.00", "7.00", "63.00", "35.00", "10"],
        [str(other), "Autumn", "USD", "1", "12.00", "3.00", "9.00", "12.00", "25"],
    ]


def test_only_admins_see_the_uses_and_the_report(client, auth, people, save10):
    auth.login(people["merchant"])
    for path in (f"/admin/campaigns/{save10}/uses", f"/admin/campaigns/{save10}/uses.csv", "/admin/campaigns/coupons",
                 "/admin/campaigns/coupons.csv"):
        assert client.get(path).status_code == 403
