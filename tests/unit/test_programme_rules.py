"""The programme's rules per kind of code (seed 000): an admin sets each kind's default expiry and
maximum uses (a new campaign's defaults), the channels and roles that may redeem it, and the
currencies the programme allows; every channel's redemption is refused outside them, naming the
rule and changing nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.ledger import SYSTEM
from portal.models import AuditEvent, ProgrammeKind
from portal.models.campaigns import Campaign, CampaignUse
from portal.programme import allowed_currencies, set_currencies, set_kind_rules
from tests.api import state
from tests.conftest import AuthActions, submit
from tests.factories import make_card, make_coupon
from tests.pages import start_sale, text
from tests.reads import snapshot, wallet_of


def set_rules(app, kind: str, **values) -> None:
    """A kind's rules as an admin would set them (every channel and role unless told)."""
    values = {"channels": ["till", "web", "api"], "roles": ["customer", "merchant", "admin"], **values}
    with app.app_context():
        set_kind_rules(db.session, SYSTEM, kind, values)
        db.session.commit()


def uses(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(CampaignUse.id)))


# --- The admin's page ---------------------------------------------------------------------------


def test_an_admin_sets_a_kinds_defaults_channels_and_roles_on_the_programme_page(app, admin):
    """Does the coupon form save its four rules, audited, and show them again?"""
    page = admin.get("/admin/programme").get_data(as_text=True)
    assert "Rules per kind of code" in page and "Redeemed through" in page and "Redeemed by" in page
    response = submit(admin, "/admin/programme/kinds/coupon", {
        "coupon-valid_days": "30", "coupon-max_uses": "100", "coupon-channels": ["till", "api"],
        "coupon-roles": ["merchant"],
    }, page="/admin/programme")
    assert response.status_code == 303
    with app.app_context():
        row = db.session.get(ProgrammeKind, "coupon")
        assert (row.default_valid_days, row.default_max_uses, row.channels, row.roles) == (30, 100, ["till", "api"], ["merchant"])
        assert db.session.scalar(sa.select(AuditEvent.action).where(AuditEvent.target == "kind:coupon")) == "programme.kind_rules"
    again = admin.get("/admin/programme").get_data(as_text=True)
    assert 'id="coupon-valid_days" name="coupon-valid_days" type="text" value="30"' in again


@pytest.mark.parametrize(
    "values, message",
    [
        ({"coupon-valid_days": "thirty", "coupon-channels": ["till"], "coupon-roles": ["merchant"]},
         "Coupons, default expiry in days: a whole number from 1 to 36,600, or empty for none"),
        ({"coupon-max_uses": "0", "coupon-channels": ["till"], "coupon-roles": ["merchant"]},
         "Coupons, default maximum uses: a whole number from 1 to 1,000,000,000, or empty for none"),
        ({"coupon-roles": ["merchant"]}, "Coupons, redeemed through: choose at least one"),
        ({"coupon-channels": ["till"], "coupon-roles": ["robot"]}, "Coupons, redeemed by: choose from the list"),
    ],
    ids=["days", "uses", "no-channel", "unknown-role"],
)
def test_a_bad_programme_rule_is_explained_and_changes_nothing(app, admin, values, message):
    set_rules(app, "coupon", valid_days="7")
    response = submit(admin, "/admin/programme/kinds/coupon", values, page="/admin/programme")
    assert response.status_code == 422
    assert message in text(response.get_data(as_text=True))
    with app.app_context():
        row = db.session.get(ProgrammeKind, "coupon")
        assert (row.default_valid_days, row.channels) == (7, ["till", "web", "api"])


def test_an_unknown_kind_is_not_found(admin):
    assert submit(admin, "/admin/programme/kinds/voucher", {}, page="/admin/programme").status_code == 404


# --- Defaults -----------------------------------------------------------------------------------


def test_a_new_campaign_starts_with_the_programmes_defaults_for_its_kind(app, admin):
    """Does the new coupon form come filled with the kind's expiry, uses and channels?"""
    set_rules(app, "coupon", valid_days="45", max_uses="250", channels=["api"])
    html = admin.get("/admin/campaigns/new?kind=coupon").get_data(as_text=True)
    assert 'name="valid_days" type="text" value="45"' in html
    assert 'name="max_uses" type="text" value="250"' in html
    assert 'value="api" checked' in html and 'value="web" checked' not in html


def test_a_coupon_made_through_the_api_takes_the_programmes_channels(app, api):
    set_rules(app, "coupon", channels=["api"])
    response = api.post("/coupons", {"code": "APIONLY", "discount_type": "percent", "discount_value": "10", "max_uses": 5},
                        role="admin")
    assert response.status_code == 201 and response.json["channels"] == ["api"]


# --- Currencies ---------------------------------------------------------------------------------


def test_only_the_programmes_currencies_can_be_used_for_campaigns_and_cards(app, admin, api):
    """With USD and EUR allowed, is a GBP campaign (page) and a GBP card (API) refused, nothing made?"""
    response = submit(admin, "/admin/programme/currencies", {"currencies": "usd, EUR"}, page="/admin/programme")
    assert response.status_code == 303
    refused = submit(admin, "/admin/campaigns/new", {
        "name": "Pounds", "kind": "credit", "currency": "GBP", "value": "5.00", "code_mode": "vanity", "code": "GBP5",
    }, page="/admin/campaigns/new?kind=credit")
    assert refused.status_code == 422
    assert "The programme allows only EUR, USD; GBP is not one of them" in text(refused.get_data(as_text=True))
    before = state(app)
    card = api.post("/cards", {"amount": "10.00", "currency": "GBP"}, role="admin")
    assert card.status_code == 422 and card.json["detail"] == "The programme allows only EUR, USD; GBP is not one of them"
    assert state(app) == before
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Campaign.id))) == 0
    assert api.post("/cards", {"amount": "10.00", "currency": "USD"}, role="admin").status_code == 201


def test_a_bad_currency_list_is_explained_and_changes_nothing(app, admin):
    with app.app_context():
        set_currencies(db.session, SYSTEM, "USD")
        db.session.commit()
    response = submit(admin, "/admin/programme/currencies", {"currencies": "USD, DOLLARS"}, page="/admin/programme")
    assert response.status_code == 422
    assert "Allowed currencies: DOLLARS is not a currency code like USD" in text(response.get_data(as_text=True))
    with app.app_context():
        assert allowed_currencies(db.session) == ["USD"]


# --- Channels and roles, in every channel's redemption --------------------------------------------

TILL_ONLY = "Gift cards cannot be redeemed through the API: the programme allows them only at a till"


def test_a_gift_card_outside_its_channels_is_refused_by_the_api_and_taken_at_the_till(app, api, till):
    """Gift cards at tills only: does the API's look-up and redemption name the rule, moving nothing?"""
    set_rules(app, "gift_card", channels=["till"])
    code = make_card(app, "10.00")
    body = api.lookup(code).json
    assert body["valid_here"] is False and body["not_valid_reason"]["message"] == TILL_ONLY
    before = state(app)
    response = api.redeem(code, {"amount": "1.00"})
    assert response.status_code == 422
    assert response.json["code"] == "not_valid_here" and response.json["detail"] == TILL_ONLY
    assert state(app) == before
    till.open()
    till.look_up(code, total="4.00")
    assert till.apply().status_code == 200


def test_a_gift_card_outside_its_channels_cannot_be_held_through_the_api(app, api):
    """A hold reserves a payment: the programme's rule refuses it as it refuses the payment."""
    set_rules(app, "gift_card", channels=["till"])
    code = make_card(app, "10.00")
    before = state(app)
    response = api.post("/holds", {"code": code, "amount": "4.00"})
    assert response.status_code == 422
    assert response.json["code"] == "not_valid_here" and response.json["detail"] == TILL_ONLY
    assert state(app) == before


def test_a_gift_card_refused_at_the_till_says_so_at_look_up(app, till):
    set_rules(app, "gift_card", channels=["api"])
    code = make_card(app, "10.00")
    before = state(app)
    till.open()
    till.look_up(code, total="4.00")
    assert "Gift cards cannot be redeemed at a till: the programme allows them only through the API" in text(till.html)
    assert 'action="/till/apply"' not in till.html
    assert state(app) == before


def test_a_replay_of_a_payment_made_before_the_rule_changed_still_answers(app, api):
    """A payment made, then the API closed to gift cards: does the same request again get the first answer?"""
    code = make_card(app, "10.00")
    first = api.redeem(code, {"amount": "1.00"}, key="pay-once")
    set_rules(app, "gift_card", channels=["till"])
    again = api.redeem(code, {"amount": "1.00"}, key="pay-once")
    assert again.status_code == first.status_code == 200 and again.json == first.json


def test_a_credit_code_for_admins_only_is_refused_to_a_customer_naming_the_rule(app, client, auth, people):
    """Credit codes redeemable by admins only: is a customer told so, wallet and uses unchanged?"""
    from tests.unit.test_customer_redeem import _campaign

    _campaign(app, kind="credit", currency="USD", value="5.00", code_mode="vanity", code="FREE5")
    set_rules(app, "credit", roles=["admin"])
    auth.login(people["customer"])
    before, counted = snapshot(app), uses(app)
    response = submit(client, "/wallet/redeem", {"code": "FREE5"})
    assert response.status_code == 422
    assert ("Credit codes can be redeemed only by admins under the programme's rules, not by customers"
            in text(response.get_data(as_text=True)))
    assert snapshot(app) == before and uses(app) == counted
    assert wallet_of(app, people["customer"]) == 0


def test_a_coupon_outside_its_channels_is_refused_at_the_till_and_in_the_api(app, till, api):
    """Coupons on the website only: are the till and the API both refused, no use counted?"""
    make_coupon(app)
    set_rules(app, "coupon", channels=["web"])
    start_sale(till, "10.00")
    response = till.send("/till/coupon", **{"coupon-code": "SAVE20"})
    assert response.status_code == 422
    assert "Coupons cannot be redeemed at a till: the programme allows them only on the Giftloop website" in text(till.html)
    answer = api.post("/coupons/redeem", {"code": "SAVE20", "order_total": "10.00"})
    assert answer.status_code == 422
    assert answer.json["detail"] == "Coupons cannot be redeemed through the API: the programme allows them only on the Giftloop website"
    assert uses(app) == 0


def test_a_coupon_for_customers_only_is_refused_to_till_staff(app, people):
    make_coupon(app)
    set_rules(app, "coupon", roles=["customer"])
    from tests.pages import Till

    till = Till(app.test_client())
    AuthActions(till.client).login(people["merchant"])
    start_sale(till, "10.00")
    till.send("/till/coupon", **{"coupon-code": "SAVE20"})
    assert "Coupons can be redeemed only by customers under the programme's rules, not by merchant staff" in text(till.html)
    assert uses(app) == 0


def test_credit_codes_kept_off_the_api_and_from_customers_are_refused_by_me_redeem(app, capi, people):
    """POST /me/redeem: is a kind closed to the API, then to customers, refused with each rule, nothing counted?"""
    from tests.unit.test_customer_redeem import _campaign

    _campaign(app, kind="credit", currency="USD", value="5.00", code_mode="vanity", code="FREE5")
    set_rules(app, "credit", channels=["web"])
    before = snapshot(app)
    closed = capi.post("/me/redeem", {"code": "FREE5"}, role="customer")
    assert closed.status_code == 422 and closed.json["code"] == "not_valid_here"
    assert closed.json["detail"] == "Credit codes cannot be redeemed through the API: the programme allows them only on the Giftloop website"
    set_rules(app, "credit", roles=["merchant", "admin"])
    barred = capi.post("/me/redeem", {"code": "FREE5"}, role="customer")
    assert barred.status_code == 422
    assert barred.json["detail"] == (
        "Credit codes can be redeemed only by merchant staff or admins under the programme's rules, not by customers"
    )
    assert snapshot(app) == before and uses(app) == 0


def test_the_shop_and_loops_make_no_card_in_a_currency_the_programme_does_not_allow(app, contract, capi):
    """With only EUR allowed: is a USD shop order refused before payment, and a USD Loops card, nothing stored?"""
    from portal.models.orders import Order
    from tests.factories import add_loops
    from tests.reads import rows

    with app.app_context():
        set_currencies(db.session, SYSTEM, "EUR")
        db.session.commit()
    add_loops(app, "customer@example.com", 1500)
    before = snapshot(app)
    order = contract.call("POST", "/orders", {"lines": [{"amount": "25.00"}]}, role="customer")
    assert order.status_code == 422
    assert order.json["detail"] == "The programme allows only EUR; USD is not one of them"
    loops = capi.post("/me/points/convert", {"amount": "10.00", "currency": "USD"}, role="customer")
    assert loops.status_code == 422 and loops.json["detail"] == "The programme allows only EUR; USD is not one of them"
    assert rows(app, Order) == [] and snapshot(app) == before
