"""Entitlements that do something (issue 27): the wallet says what each gives and until when;
entitlement.granted and entitlement.expired go out as events; the sweep ends them once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from portal.campaigns import grant
from portal.campaigns.definitions import CampaignInvalid, create_campaign, read_spec
from portal.campaigns.redemption import redeem_code
from portal.events import endpoints
from portal.extensions import db
from portal.jobs.sweeps import run_entitlements
from portal.ledger import Actor
from portal.models import Event, User, WebhookDelivery, utcnow
from portal.models.campaigns import Entitlement
from portal.services import services
from tests.pages import text

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
CARA = "customer@example.com"
DELIVERY = "Free delivery on every order"


@pytest.fixture
def ctx(app, people):
    with app.app_context():
        yield db.session


def person(session, email=CARA) -> User:
    return session.scalar(sa.select(User).where(User.email == email))


def delivery_code(session, code="FREESHIP", gives=DELIVERY, now=NOW):
    raw = {"name": "Free delivery", "kind": "feature", "feature": "delivery", "feature_days": "30",
           "feature_gives": gives, "code_mode": "vanity", "code": code}
    made = create_campaign(session, services().vault, read_spec(session, raw, now=now), actor=Actor())
    session.commit()
    return made


def events_of(session, kind: str) -> list[dict]:
    return [e.payload for e in session.scalars(sa.select(Event).where(Event.type == kind).order_by(Event.id))]


def test_a_feature_campaign_says_what_it_gives_and_too_long_a_text_is_refused(ctx):
    assert delivery_code(ctx).feature_gives == DELIVERY
    with pytest.raises(CampaignInvalid) as caught:
        read_spec(ctx, {"name": "Long", "kind": "feature", "feature": "x", "feature_days": "3", "code_mode": "random",
                        "feature_gives": "a" * 201}, now=NOW)
    assert caught.value.errors == {"feature_gives": "Say what the feature gives in at most 200 characters"}


def test_redeeming_a_feature_code_is_an_entitlement_granted_event_saying_what_and_until_when(ctx):
    delivery_code(ctx)
    customer = person(ctx)
    redeem_code(ctx, services().vault, customer, "FREESHIP", now=NOW)
    ctx.commit()
    (granted,) = events_of(ctx, "entitlement.granted")
    assert granted["customer_id"] == customer.id and granted["feature"] == "delivery" and granted["gives"] == DELIVERY
    assert (granted["starts_at"], granted["ends_at"]) == ("2026-06-01T12:00:00Z", "2026-07-01T12:00:00Z")
    assert "@" not in json.dumps(granted) and "FREESHIP" not in json.dumps(granted)


def test_a_longer_grant_is_another_granted_event_with_the_new_end(ctx):
    customer = person(ctx)
    grant(ctx, customer, "plus", 5, now=NOW)
    grant(ctx, customer, "plus", 5, now=NOW + timedelta(days=1))
    ctx.commit()
    assert [e["ends_at"] for e in events_of(ctx, "entitlement.granted")] == ["2026-06-06T12:00:00Z", "2026-06-11T12:00:00Z"]
    assert events_of(ctx, "entitlement.expired") == []


def test_the_sweep_expires_what_ended_once_and_leaves_what_runs(ctx):
    """Two ended, one still running: two entitlement.expired events; a second sweep finds nothing."""
    admin = person(ctx, "admin@example.com")
    listening = endpoints.create_endpoint(
        ctx, services().vault, url="http://127.0.0.1:9/hook", event_types=["entitlement.expired"], merchant_id=None,
        actor=Actor(user_id=admin.id), allow_private=True,
    ).endpoint.id
    customer = person(ctx)
    grant(ctx, customer, "plus", 5, now=NOW)
    grant(ctx, customer, "delivery", 3, now=NOW)
    grant(ctx, customer, "vip", 30, now=NOW)
    ctx.commit()
    assert run_entitlements(now=NOW + timedelta(days=6)) == {"expired": 2}
    expired = events_of(ctx, "entitlement.expired")
    assert sorted(e["feature"] for e in expired) == ["delivery", "plus"]
    assert ctx.scalar(sa.select(sa.func.count(WebhookDelivery.id)).where(WebhookDelivery.endpoint_id == listening)) == 2
    assert run_entitlements(now=NOW + timedelta(days=7)) == {"expired": 0}
    assert len(events_of(ctx, "entitlement.expired")) == 2
    vip = ctx.scalar(sa.select(Entitlement).where(Entitlement.feature == "vip"))
    assert vip.expired_at is None


def test_granted_again_after_it_ended_but_before_the_sweep_its_end_is_told_first(ctx):
    customer = person(ctx)
    grant(ctx, customer, "plus", 5, now=NOW)
    grant(ctx, customer, "plus", 5, now=NOW + timedelta(days=10))
    ctx.commit()
    kinds = list(ctx.scalars(sa.select(Event.type).where(Event.type.like("entitlement.%")).order_by(Event.id)))
    assert kinds == ["entitlement.granted", "entitlement.expired", "entitlement.granted"]
    assert run_entitlements(now=NOW + timedelta(days=12)) == {"expired": 0}


def test_the_wallet_shows_what_each_entitlement_gives_and_until_when(app, ctx, client, auth):
    now = utcnow()
    delivery_code(ctx, now=now)
    redeem_code(ctx, services().vault, person(ctx), "FREESHIP", now=now)
    ctx.commit()
    auth.login(CARA)
    page = text(client.get("/wallet/"))
    until = (now + timedelta(days=30)).strftime("%-d %B %Y")
    assert f"Delivery: active until {until}. {DELIVERY}" in page


def test_the_admin_feature_form_asks_what_it_gives(client, auth, people):
    auth.login(people["admin"])
    page = text(client.get("/admin/campaigns/new?kind=feature"))
    assert "What the feature gives" in page
    assert "What the feature gives" not in text(client.get("/admin/campaigns/new?kind=coupon"))


def test_portal_sweep_entitlements_says_how_many_ended(app, ctx, runner):
    grant(ctx, person(ctx), "plus", 1, now=utcnow() - timedelta(days=2))
    ctx.commit()
    result = runner.invoke(args=["sweep", "entitlements"])
    assert result.exit_code == 0 and "Entitlements: 1 expired" in result.output
