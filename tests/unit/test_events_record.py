"""Events (issue 11): every ledger transaction and every campaign or card state change writes one
event in its own database transaction, with a stable payload: amounts as strings, codes masked."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.auth.users import create_user
from portal.campaigns import create_campaign, read_spec, redeem_coupon
from portal.campaigns.redemption import redeem_code
from portal.cards import operations
from portal.cards.expiry import expire_due
from portal.cards.transfers import claim_transfer, start_transfer
from portal.events import endpoints, record
from portal.events.payloads import envelope
from portal.extensions import db
from portal.gifts import redeem_gift_code
from portal.ledger import SYSTEM, Actor, fingerprint, post, system_account
from portal.merchants import create_merchant
from portal.models import Event, GiftCard, Merchant, Transaction, User, WebhookDelivery, utcnow
from portal.money import Money
from portal.services import services
from tests.conftest import PASSWORD, make_app
from tests.factories import user
from tests.gifts import FRIEND, make_gift

ADMIN = Actor()


@pytest.fixture
def ctx(app, people):
    with app.app_context():
        yield db.session


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def person(session, email: str) -> User:
    return session.scalar(sa.select(User).where(User.email == email))


def cafe(session) -> Merchant:
    return session.scalar(sa.select(Merchant).where(Merchant.slug == "corner-cafe"))


def events(session) -> list[Event]:
    return list(session.scalars(sa.select(Event).order_by(Event.id)))


def issue(session, amount="10.00", **kwargs):
    issued = operations.issue_card(
        session, services().vault, amount=usd(amount), actor=ADMIN, idempotency_key=str(uuid.uuid4()), **kwargs
    )
    session.commit()
    return issued


def test_a_redemption_writes_one_event_with_amounts_as_strings_and_the_code_masked(ctx):
    """Does paying 3.00 at a till say so, with the card's balance after and never its full code?"""
    issued = issue(ctx, merchant=cafe(ctx), scope_to_merchant=False)
    staff = person(ctx, "staff@example.com")
    operations.redeem(
        ctx, issued.card, usd("3.00"), actor=Actor(user_id=staff.id, merchant_id=staff.merchant_id),
        idempotency_key="sale-1", merchant=cafe(ctx), reference="R-1",
    )
    ctx.commit()
    issued_event, redeemed = events(ctx)
    assert issued_event.type == "card.issued" and redeemed.type == "card.redeemed"
    body = envelope(redeemed)
    assert body["id"] == f"evt_{redeemed.id}" and body["type"] == "card.redeemed" and body["created"].endswith("Z")
    data = body["data"]
    assert (data["amount"], data["balance"], data["currency"], data["reference"]) == ("-3.00", "7.00", "USD", "R-1")
    assert data["card"]["id"] == issued.card.id and data["card"]["code_masked"] == issued.card.code.masked
    assert redeemed.merchant_id == cafe(ctx).id and redeemed.transaction_id == data["transaction_id"]
    assert issued.code not in json.dumps(body, ensure_ascii=False)


def test_a_redemption_is_queued_for_exactly_the_endpoints_that_chose_its_type_and_may_see_it(ctx):
    """Admins' endpoints and the till's merchant's hear a sale if they chose card.redeemed; an
    endpoint of another type, or of another merchant, gets no delivery."""
    other = create_merchant(ctx, "book-nook", "Book Nook")
    hearing = [listen(ctx, "http://127.0.0.1:9/a", None, "card.redeemed", "card.issued"),
               listen(ctx, "http://127.0.0.1:9/c", cafe(ctx).id, "card.redeemed")]
    listen(ctx, "http://127.0.0.1:9/loads", None, "card.loaded")
    listen(ctx, "http://127.0.0.1:9/other", other.id, "card.redeemed")
    issued = issue(ctx)
    operations.redeem(ctx, issued.card, usd("1.00"), actor=ADMIN, idempotency_key="sale", merchant=cafe(ctx))
    ctx.commit()
    redeemed = next(e for e in events(ctx) if e.type == "card.redeemed")
    queued = ctx.scalars(sa.select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == redeemed.id))
    assert sorted(queued) == sorted(hearing)


def test_every_transaction_has_exactly_one_event(ctx):
    """Issue, load, redeem, undo, wallet credit: as many events as transactions, each naming its own."""
    issued = issue(ctx)
    operations.load(ctx, issued.card, usd("5.00"), actor=ADMIN, idempotency_key="load", source="cash")
    paid = operations.redeem(ctx, issued.card, usd("2.00"), actor=ADMIN, idempotency_key="pay", merchant=None)
    operations.reverse(ctx, paid.transaction.id, actor=ADMIN, idempotency_key="undo", reason="wrong card")
    from portal.wallet import credit_wallet

    credit_wallet(ctx, person(ctx, "customer@example.com"), usd("4.00"), actor=ADMIN, idempotency_key="c", reason="sorry")
    ctx.commit()
    by_transaction = {e.transaction_id: e.type for e in events(ctx)}
    kinds = dict(ctx.execute(sa.select(Transaction.id, Transaction.kind)).all())
    assert set(by_transaction) == set(kinds)
    assert sorted(by_transaction.values()) == sorted(
        ["card.issued", "card.loaded", "card.redeemed", "card.reversed", "wallet.credited"]
    )
    credited = next(e for e in events(ctx) if e.type == "wallet.credited")
    assert (credited.payload["account"], credited.payload["amount"]) == ("wallet", "4.00")
    assert credited.payload["customer_id"] == person(ctx, "customer@example.com").id


def test_a_replayed_request_writes_no_second_event(ctx):
    issued = issue(ctx)
    for _ in range(2):
        operations.redeem(ctx, issued.card, usd("1.00"), actor=ADMIN, idempotency_key="same", merchant=None)
        ctx.commit()
    assert [e.type for e in events(ctx)] == ["card.issued", "card.redeemed"]


def test_a_refused_or_rolled_back_change_leaves_no_event(ctx):
    """An overdraft is refused and a rolled-back redemption vanishes: no event of either."""
    issued = issue(ctx, amount="5.00")
    with pytest.raises(Exception):
        operations.redeem(ctx, issued.card, usd("9.00"), actor=ADMIN, idempotency_key="too-much", merchant=None)
    ctx.rollback()
    operations.redeem(ctx, issued.card, usd("1.00"), actor=ADMIN, idempotency_key="undone", merchant=None)
    ctx.rollback()
    assert [e.type for e in events(ctx)] == ["card.issued"]


def test_a_coupon_at_a_checkout_is_an_event_of_that_merchant(ctx):
    spec = read_spec(ctx, {"name": "Summer", "kind": "coupon", "discount_type": "percent", "discount_value": "15",
                           "code_mode": "vanity", "code": "SAVE15"})
    campaign = create_campaign(ctx, services().vault, spec, actor=ADMIN)
    redeem_coupon(ctx, services().vault, "save15", order_total=usd("40.00"), merchant=cafe(ctx), channel="web",
                  reference="R-9")
    ctx.commit()
    created, used = events(ctx)
    assert created.type == "campaign.created" and created.payload["campaign_id"] == campaign.id
    assert created.merchant_id is None  # campaigns are the admins' business
    assert used.type == "coupon.redeemed" and used.merchant_id == cafe(ctx).id
    assert (used.payload["order_total"], used.payload["discount"], used.payload["currency"]) == ("40.00", "6.00", "USD")
    assert used.payload["reference"] == "R-9" and used.payload["code_masked"]


def test_a_credit_code_gives_a_code_event_and_a_wallet_event(ctx):
    spec = read_spec(ctx, {"name": "Welcome", "kind": "credit", "value": "5.00", "currency": "USD",
                           "code_mode": "vanity", "code": "HELLO5"})
    create_campaign(ctx, services().vault, spec, actor=ADMIN)
    redeem_code(ctx, services().vault, person(ctx, "customer@example.com"), "HELLO5")
    ctx.commit()
    types = [e.type for e in events(ctx)]
    assert types == ["campaign.created", "wallet.credited", "code.redeemed"]
    code_event = events(ctx)[-1]
    assert code_event.payload["kind"] == "credit" and code_event.payload["transaction_id"] == events(ctx)[1].transaction_id


def test_card_state_changes_are_events(ctx, app):
    """Freezing, unfreezing, giving to a friend and cancelling are each an event, without moving value."""
    from portal.auth.users import create_user

    cara = person(ctx, "customer@example.com")
    friend = create_user(ctx, "friend@example.com", "a long password", role="customer")
    issued = issue(ctx, owner=cara)
    operations.freeze(ctx, issued.card, actor=ADMIN, reason="lost")
    operations.unfreeze(ctx, issued.card, actor=ADMIN, reason="found")
    _, claim = start_transfer(ctx, services().vault, issued.card, actor=Actor(user_id=cara.id), to_email=None)
    claim_transfer(ctx, services().vault, claim, friend)
    operations.cancel(ctx, ctx.get(GiftCard, issued.card.id), actor=ADMIN, idempotency_key="x", reason="fraud")
    ctx.commit()
    types = [e.type for e in events(ctx)]
    assert types == ["card.issued", "card.frozen", "card.unfrozen", "card.transferred", "card.adjusted", "card.cancelled"]
    transferred = events(ctx)[3].payload
    assert (transferred["customer_id"], transferred["from_customer_id"]) == (friend.id, cara.id)
    assert events(ctx)[-1].payload["status"] == "cancelled"


def test_record_refuses_an_unknown_type_and_a_full_code(ctx):
    issued = issue(ctx)
    with pytest.raises(ValueError, match="unknown event type"):
        record(ctx, "card.painted", {})
    with pytest.raises(ValueError, match="masked"):
        record(ctx, "card.frozen", {"code": issued.code})


def test_a_gift_subscription_is_purchased_sent_and_redeemed_as_events(gifting):
    """The buyer pays (a ledger event), sends it and the friend redeems it: three events, no addresses."""
    app = gifting
    gift_id, code = make_gift(app)
    with app.app_context():
        redeem_gift_code(db.session, services().vault, code, user(FRIEND))
        db.session.commit()
        gift_events = [e for e in events(db.session) if e.type.startswith("gift.")]
        assert [e.type for e in gift_events] == ["gift.purchased", "gift.sent", "gift.redeemed"]
        sent, redeemed = gift_events[1].payload, gift_events[2].payload
        assert sent["gift_id"] == redeemed["gift_id"] == gift_id and sent["plan"] == "plus"
        assert redeemed["customer_id"] == user(FRIEND).id and code not in json.dumps(redeemed)
        assert "@" not in json.dumps([e.payload for e in gift_events])


# --- The expiry sweep: set-based, its events written in bulk (record_movements) -----------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def sweeping(request, tmp_path):
    """A session on SQLite (multi-row INSERTs) and on PostgreSQL (COPY), with a café and a
    customer, sending webhooks inline after the commit (no Redis) to receivers on 127.0.0.1."""
    if request.param == "postgresql":
        request.getfixturevalue("pg_app")  # empties the tables afterwards
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'portal.db'}"
    app = make_app(url, OUTBOX_DIR=str(tmp_path / "outbox"), WEBHOOK_ALLOW_PRIVATE_URLS=True, WEBHOOK_TIMEOUT_SECONDS=2)
    with app.app_context():
        if request.param == "sqlite":
            db.create_all()
        cafe = create_merchant(db.session, "corner-cafe", "Corner Café")
        create_user(db.session, "customer@example.com", PASSWORD, role="customer", name="Cara")
        create_user(db.session, "admin@example.com", PASSWORD, role="admin", name="Ada")
        create_user(db.session, "staff@example.com", PASSWORD, role="merchant", merchant=cafe, name="Sam")
        db.session.commit()
        yield db.session
        db.session.remove()
        db.engine.dispose()


def due_card(session, amount: str, **kwargs) -> GiftCard:
    """A promotional card of 10 days issued 30 days ago: past its date."""
    return issue(
        session, amount, kind="promotional", expires_in_days=10, now=utcnow() - timedelta(days=30), **kwargs
    ).card


def listen(session, url: str, merchant_id: int | None, *types: str) -> int:
    owner = person(session, "admin@example.com" if merchant_id is None else "staff@example.com")
    made = endpoints.create_endpoint(
        session, services().vault, url=url, event_types=list(types), merchant_id=merchant_id,
        actor=Actor(user_id=owner.id, merchant_id=merchant_id), allow_private=True,
    )
    session.commit()
    return made.endpoint.id


def test_a_swept_cards_event_is_the_one_post_writes_for_an_expiry(sweeping):
    """A receiver cannot tell the sweep's card.expired from the one ``post`` writes for a single
    card (the way ``expire_card`` expired cards): the same envelope and data, field for field."""
    session, cara = sweeping, person(sweeping, "customer@example.com")
    swept, posted = (due_card(session, "12.34", owner=cara, merchant=cafe(session)) for _ in range(2))
    # One card the single-card way: its expire transaction through post(), which writes the event.
    held = posted.account.balance
    post(
        session, kind="expire", actor=SYSTEM, idempotency_key=f"expire:card:{posted.id}",
        request_hash=fingerprint("expire", posted.id, 0), card_id=posted.id, memo="Expired",
        legs=[(posted.account, -held), (system_account(session, "breakage", "USD"), held)],
    )
    posted.status = "expired"
    session.commit()
    assert expire_due(session) == 1
    session.commit()
    by_card = {e.payload["card"]["id"]: e for e in events(session) if e.type == "card.expired"}
    from_sweep, from_post = by_card[swept.id], by_card[posted.id]
    transaction_id = session.scalar(
        sa.select(Transaction.id).where(Transaction.card_id == swept.id, Transaction.kind == "expire")
    )
    assert from_sweep.payload == {
        **from_post.payload, "transaction_id": transaction_id,
        "card": {**from_post.payload["card"], "id": swept.id, "code_masked": swept.code.masked},
    }
    assert (from_sweep.payload["amount"], from_sweep.payload["balance"], from_sweep.payload["account"]) == (
        "-12.34", "0.00", "card"
    )
    assert from_sweep.payload["customer_id"] == cara.id
    assert from_sweep.payload["card"]["merchant_id"] == cafe(session).id
    assert (from_sweep.transaction_id, from_sweep.merchant_id) == (transaction_id, from_post.merchant_id)
    swept_body, posted_body = envelope(from_sweep), envelope(from_post)
    assert swept_body.keys() == posted_body.keys()
    assert [swept_body[k] for k in ("object", "api_version", "type", "merchant_id")] == [
        posted_body[k] for k in ("object", "api_version", "type", "merchant_id")
    ]


def test_the_sweep_writes_one_card_expired_per_card_once_and_delivers_it_to_who_listens(sweeping, receiver):
    """A café card and a bearer card expire with money, an emptied one without: two events, none
    more on a second sweep that day, each relayed after the commit to the endpoints that asked."""
    session = sweeping
    other = create_merchant(session, "book-shop", "Book Shop")
    hooks = {name: receiver(200) for name in ("admin", "cafe", "other", "deaf")}
    admin_id = listen(session, hooks["admin"].url, None, "card.expired")
    cafe_id = listen(session, hooks["cafe"].url, cafe(session).id, "card.expired")
    listen(session, hooks["other"].url, other.id, "card.expired")
    listen(session, hooks["deaf"].url, None, "card.redeemed")
    at_cafe = due_card(session, "5.00", merchant=cafe(session))
    bearer = due_card(session, "7.00")
    emptied = due_card(session, "3.00")
    operations.redeem(
        session, emptied, usd("3.00"), actor=ADMIN, idempotency_key="all", merchant=None,
        now=utcnow() - timedelta(days=25),
    )
    due_card(session, "9.00").expires_at = utcnow() + timedelta(days=5)  # not due
    session.commit()

    assert expire_due(session) == 3
    session.commit()
    expired = [e for e in events(session) if e.type == "card.expired"]
    assert expire_due(session) == 0
    session.commit()
    assert [e.id for e in events(session) if e.type == "card.expired"] == [e.id for e in expired]
    # An empty card moves nothing: no expire transaction, so no event of one.
    transactions = dict(session.execute(
        sa.select(Transaction.card_id, Transaction.id).where(Transaction.kind == "expire")
    ).all())
    assert {e.payload["card"]["id"]: e.transaction_id for e in expired} == transactions
    assert set(transactions) == {at_cafe.id, bearer.id}
    deliveries = session.execute(
        sa.select(WebhookDelivery.endpoint_id, Event.payload, WebhookDelivery.status).join(Event)
        .where(Event.type == "card.expired")
    ).all()
    assert sorted((endpoint, payload["card"]["id"]) for endpoint, payload, _ in deliveries) == sorted(
        [(admin_id, at_cafe.id), (admin_id, bearer.id), (cafe_id, at_cafe.id)]
    )
    # Relayed after the commit (here inline, without Redis): the listening receivers have them.
    assert {status for *_, status in deliveries} == {"delivered"}
    assert sorted(body["data"]["card"]["id"] for body in hooks["admin"].bodies()) == sorted([at_cafe.id, bearer.id])
    heard = [(body["type"], body["data"]["card"]["id"]) for body in hooks["cafe"].bodies()]
    assert heard == [("card.expired", at_cafe.id)]
    assert hooks["other"].requests == [] and [body["type"] for body in hooks["deaf"].bodies()] == ["card.redeemed"]


def test_events_and_their_deliveries_are_pruned_after_the_retention_and_newer_ones_stay(ctx, app):
    """The daily sweep deletes events older than EVENT_RETENTION_DAYS with their delivery log
    (test deliveries as old too); younger events, their deliveries and the pull order stay."""
    from portal.events.endpoints import send_test
    from portal.jobs.sweeps import run_events
    from portal.models import WebhookEndpoint

    endpoint_id = listen(ctx, "http://127.0.0.1:9/hook", None, "card.issued")
    now = utcnow()
    for age_days in (45, 31, 29, 1):
        record(ctx, "card.issued", {"card": {"id": age_days}}, now=now - timedelta(days=age_days))
    old_test = send_test(ctx, ctx.get(WebhookEndpoint, endpoint_id))
    old_test.created_at = now - timedelta(days=40)
    send_test(ctx, ctx.get(WebhookEndpoint, endpoint_id))
    ctx.commit()
    assert ctx.scalar(sa.select(sa.func.count(WebhookDelivery.id))) == 6

    app.config["EVENT_RETENTION_DAYS"] = 30
    assert run_events(now) == {"pruned": 2, "counters": 0}
    assert run_events(now) == {"pruned": 0, "counters": 0}
    assert [event.payload["card"]["id"] for event in events(ctx)] == [29, 1]
    kept = ctx.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    assert [delivery.event_id is None for delivery in kept] == [False, False, True]
    assert {delivery.event_id for delivery in kept} - {None} == {event.id for event in events(ctx)}
