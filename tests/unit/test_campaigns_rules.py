"""Campaign rules as an admin gives them: each rule refuses with its own message, per field."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from portal.campaigns import rules
from portal.campaigns.codes import check_pattern, check_vanity, random_code
from portal.campaigns.definitions import CampaignInvalid, create_campaign, read_spec, update_campaign
from portal.errors import ValidationError
from portal.extensions import db
from portal.ledger import Actor
from portal.merchants import create_merchant
from portal.models import AuditEvent
from portal.models.campaigns import Campaign, CampaignCode
from portal.services import services

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
COUPON = {"name": "Summer", "kind": "coupon", "discount_type": "percent", "discount_value": "15", "code_mode": "vanity", "code": "SAVE15"}


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield db.session


def refused(rule, *args, field=None) -> str:
    with pytest.raises(ValidationError) as caught:
        rule(*args)
    if field is not None:
        assert caught.value.field == field
    return caught.value.message


def test_each_definition_rule_refuses_with_its_own_message():
    """Does every rule name its field and say what is wanted?"""
    assert refused(rules.check_name, "  ", field="name") == "Give the campaign a name of 1 to 120 characters"
    assert refused(rules.check_kind, "voucher", field="kind").startswith("A campaign is one of")
    assert refused(rules.check_currency, "XXX", field="currency") == "Unknown currency XXX"
    assert refused(rules.check_currency, "LOOP", field="currency") == "Campaigns give money, not Loops"
    assert refused(rules.check_amount, "1.234", "USD", "value", field="value") == "USD amounts have at most 2 decimal places"
    assert refused(rules.check_amount, "5", None, "value", field="currency") == "Give a currency for this amount"
    assert refused(rules.check_percent, "0", field="discount_value") == "A percentage discount is more than 0 and at most 100"
    assert refused(rules.check_percent, "100.5") == "A percentage discount is more than 0 and at most 100"
    assert refused(rules.check_percent, "12.345") == "A percentage has at most two decimal places"
    assert refused(rules.check_percent, "lots") == "Give the percentage as a number, like 15 or 12.5"
    assert refused(rules.check_discount, "bogof", "1", None, field="discount_type") == "A coupon's discount is percent or fixed"
    assert refused(rules.check_feature, "Plus!", field="feature").startswith("Name the feature")
    assert refused(rules.check_days, "0", "feature_days", field="feature_days") == "Give a whole number of days from 1 to 36600"
    assert refused(rules.check_expiry, "2020-01-01", None, NOW, field="expires_at") == "The expiry date must be in the future"
    assert refused(rules.check_expiry, "2027-01-01", "30", NOW) == "Give either an expiry date or a number of days, not both"
    assert refused(rules.check_moment, "next week", field="expires_at") == "Give a date like 2027-03-31"
    assert refused(rules.check_max_uses, "0", field="max_uses").startswith("Give a whole number of at least 1")
    assert refused(rules.check_max_uses, "3", 5) == "This campaign was already used 5 times; the limit cannot be lower"
    assert refused(rules.check_uses_per_user, "-1", field="uses_per_user").startswith("Give a whole number")
    assert refused(rules.check_quantity, "1000001", field="quantity") == "Generate from 1 to 1,000,000 codes at a time"
    assert refused(rules.check_domains, "example", field="allowed_domains") == "example is not an e-mail domain like example.com"
    assert refused(rules.check_channels, ["web", "fax"], field="channels") == "Channels are web and api"


def test_rules_read_form_text_and_json_values_alike():
    """Do the page (text) and the API (JSON types) get the same clean values from one rule?"""
    assert rules.check_percent("12.5") == rules.check_percent(12.5) == 1250
    assert rules.check_percent("15%") == rules.check_percent(15) == 1500
    assert rules.check_max_uses("5") == rules.check_max_uses(5) == 5
    assert rules.check_max_uses("") is None and rules.check_max_uses(None) is None
    assert rules.check_domains("@Example.com, staff.example.org") == ["example.com", "staff.example.org"]
    assert rules.check_domains(["example.com"]) == ["example.com"]
    assert rules.check_channels("") == ["web", "api"] and rules.check_channels(["api"]) == ["api"]
    # A date is valid through that whole UTC day.
    assert rules.check_moment("2027-03-31") == datetime(2027, 4, 1, tzinfo=timezone.utc)
    assert rules.check_moment(date(2027, 3, 31)) == datetime(2027, 4, 1, tzinfo=timezone.utc)
    assert rules.check_moment("2027-03-31T10:00:00Z") == datetime(2027, 3, 31, 10, tzinfo=timezone.utc)


def test_code_patterns_are_vanity_or_random_with_a_prefix():
    assert check_vanity("save-20") == "SAVE20"
    assert refused(check_vanity, "S!", field="code") == "A code is 3 to 32 letters and digits, like SAVE20"
    assert refused(check_vanity, "GC-0000-0000-0000-0000-0", field="code") in (
        "That looks like a gift card code; choose another", "A code is 3 to 32 letters and digits, like SAVE20",
    )
    assert check_pattern("random", None, "spring", "12").prefix == "SPRING"
    assert refused(check_pattern, "random", None, "GCX", None, field="code_prefix") == "GC is kept for gift card codes; choose another prefix"
    assert refused(check_pattern, "random", None, "", 6, field="code_length") == "Random codes have 10 to 24 symbols after the prefix"
    code = random_code("SPRING", 12)
    assert code.startswith("SPRING-") and len(code.replace("-", "")) == 18
    assert set(code.replace("-", "")[6:]) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_read_spec_reports_every_broken_rule_at_once(ctx):
    """Does a form with several mistakes hear about all of them, each by its field?"""
    with pytest.raises(CampaignInvalid) as caught:
        read_spec(ctx, {"name": "", "kind": "credit", "value": "abc", "max_uses": "0", "code_mode": "vanity", "code": "x"}, now=NOW)
    errors = caught.value.errors
    assert set(errors) >= {"name", "value", "max_uses", "code"}
    assert errors["name"] == "Give the campaign a name of 1 to 120 characters"


def test_kind_specific_requirements(ctx):
    """Does each kind ask for what it needs?"""
    def errors(raw):
        with pytest.raises(CampaignInvalid) as caught:
            read_spec(ctx, raw, now=NOW)
        return caught.value.errors

    assert errors({"name": "x", "kind": "gift_card"}) == {
        "currency": "Give the currency of the cards", "value": "Give the value of each card, like 10.00",
    }
    assert errors({"name": "x", "kind": "credit", "code_mode": "random"})["currency"] == "Give the currency of the credit"
    assert errors({"name": "x", "kind": "feature", "feature": "plus", "code_mode": "random"}) == {
        "feature_days": "Give the number of days the feature is unlocked for",
    }
    assert errors({"name": "x", "kind": "coupon", "discount_type": "fixed", "discount_value": "5", "code_mode": "random"}) == {
        "currency": "Give a currency for this amount",
    }
    create_merchant(ctx, "cafe", "Cafe")
    create_merchant(ctx, "books", "Books")
    assert errors({"name": "x", "kind": "gift_card", "currency": "USD", "value": "5", "merchants": "cafe, books"}) == {
        "merchants": "A gift card works at one merchant or at all of them: choose at most one",
    }
    assert errors({"name": "x", "kind": "coupon", **{k: v for k, v in COUPON.items() if k not in ("name", "kind")}, "merchants": "nowhere"}) == {
        "merchants": "No merchant with the slug nowhere",
    }


def test_a_vanity_campaign_stores_its_code_hashed_and_encrypted(ctx):
    """Is SAVE15 kept only as hash and ciphertext, and can it be found by any spelling?"""
    campaign = create_campaign(ctx, services().vault, read_spec(ctx, COUPON, now=NOW), actor=Actor(user_id=None))
    ctx.commit()
    row = ctx.scalar(db.select(CampaignCode).where(CampaignCode.campaign_id == campaign.id))
    assert b"SAVE15" not in row.code.ciphertext and row.code.lookup_hash != "SAVE15"
    assert services().vault.decrypt(row.code.ciphertext) == "SAVE15"
    from portal.campaigns.codes import find_campaign_code

    assert find_campaign_code(ctx, services().vault, " save-15 ").id == row.id
    assert ctx.scalar(db.select(AuditEvent).where(AuditEvent.action == "campaign.created")).target == f"campaign:{campaign.id}"


def test_a_vanity_code_cannot_be_taken_twice(ctx):
    create_campaign(ctx, services().vault, read_spec(ctx, COUPON, now=NOW), actor=Actor())
    with pytest.raises(ValidationError, match="That code is already in use; choose another"):
        create_campaign(ctx, services().vault, read_spec(ctx, {**COUPON, "name": "Again"}, now=NOW), actor=Actor())


def test_updating_keeps_the_kind_and_never_lowers_the_limit_below_the_uses(ctx):
    campaign = create_campaign(ctx, services().vault, read_spec(ctx, {**COUPON, "max_uses": "10"}, now=NOW), actor=Actor())
    campaign.uses = 4
    ctx.flush()
    with pytest.raises(CampaignInvalid) as caught:
        read_spec(ctx, {**COUPON, "max_uses": "3"}, now=NOW, used=campaign.uses)
    assert caught.value.errors == {"max_uses": "This campaign was already used 4 times; the limit cannot be lower"}
    spec = read_spec(ctx, {**COUPON, "kind": "credit", "currency": "USD", "value": "5"}, now=NOW)
    with pytest.raises(ValidationError, match="A campaign's kind cannot change"):
        update_campaign(ctx, services().vault, campaign, spec, actor=Actor())
    renamed = update_campaign(ctx, services().vault, campaign, read_spec(ctx, {**COUPON, "code": "SAVE16", "max_uses": "20"}, now=NOW), actor=Actor())
    assert renamed.max_uses == 20
    from portal.campaigns.codes import find_campaign_code

    assert find_campaign_code(ctx, services().vault, "SAVE16").campaign_id == campaign.id
    assert ctx.scalar(db.select(db.func.count(Campaign.id))) == 1
    assert ctx.scalar(db.select(AuditEvent).where(AuditEvent.action == "campaign.updated")).detail["changed"] == ["max_uses", "code"]


def test_code_expiry_is_a_fixed_date_or_days_from_issue():
    campaign = Campaign(expires_at=None, valid_days=30)
    issued = NOW
    assert rules.code_expiry(campaign, issued) == NOW + timedelta(days=30)
    campaign.expires_at = NOW + timedelta(days=5)
    assert rules.code_expiry(campaign, issued) == NOW + timedelta(days=5)
