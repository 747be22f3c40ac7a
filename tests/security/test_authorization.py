"""Other people's things: every route that names an object by id, tried by someone who does not
own it, answers exactly as for an id that does not exist, and changes nothing (DESIGN §7).

Roles per route are proved by tests/unit/test_route_access.py; this is ownership. The routes are
walked from the URL map, so a new route with a known kind of id is covered the day it is added.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from portal.cards import operations
from portal.cards.holds import place_hold
from portal.cards.transfers import start_transfer
from portal.events import endpoints
from portal.extensions import db
from portal.gifts import create_gift, ensure_plans
from portal.ledger import SYSTEM, Actor
from portal.models import GiftCard, Merchant, User
from portal.money import Money
from portal.orders.placing import LineRequest, place_order
from portal.orders.programme import programme_for
from portal.services import services
from portal.shop import payments
from portal.tokens import create_token
from portal.web.guards import allowed_roles
from tests.conftest import AuthActions
from tests.security.conftest import CUSTOMERS, STAFF, database_state, seed_people

MISSING = 987654
# Admins act on every object by design (DESIGN §7): ownership does not apply to them.
ADMIN_ONLY = frozenset({"admin"})


def intruder(role: str) -> str:
    """Someone of the same role who must not reach the victim's objects (Cara's, Corner Café's)."""
    return CUSTOMERS[1] if role == "customer" else STAFF["book-nook"]


def webhook_with_delivery(slug: str) -> dict[str, int]:
    """A store's webhook endpoint, enabled, with one finished delivery that could be sent again."""
    staff = db.session.scalar(sa.select(User).where(User.email == STAFF[slug]))
    made = endpoints.create_endpoint(
        db.session, services().vault, url=f"https://pos.{slug}.example/giftloop", event_types=["card.redeemed"],
        merchant_id=staff.merchant_id, actor=Actor(user_id=staff.id, merchant_id=staff.merchant_id),
        allow_private=False,
    )
    delivery = endpoints.send_test(db.session, made.endpoint)
    delivery.status = "delivered"
    return {"endpoint_id": made.endpoint.id, "delivery_id": delivery.id}


@pytest.fixture
def world(app):
    """The victims' objects: Cara's card, held transfer, token, unpaid gift for a friend and shop order; Corner
    Café's sale, hold on Cara's card, webhook endpoint and delivery. Also The Book Nook's own endpoint and delivery, the
    way in to routes that name an object inside another (see ``attacks``)."""
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF has its own tests; here only ownership decides
    seed_people(app)
    with app.app_context():
        cara = db.session.scalar(sa.select(User).where(User.email == CUSTOMERS[0]))
        cafe = db.session.scalar(sa.select(Merchant).where(Merchant.slug == "corner-cafe"))
        vault = services().vault
        kept = operations.issue_card(db.session, vault, amount=Money(2000, "USD"), actor=SYSTEM,
                                     idempotency_key="kept", owner=cara).card
        given = operations.issue_card(db.session, vault, amount=Money(1000, "USD"), actor=SYSTEM,
                                      idempotency_key="given", owner=cara).card
        transfer, _ = start_transfer(db.session, vault, given, actor=Actor(user_id=cara.id), to_email=None)
        sale = operations.redeem(db.session, kept, Money(300, "USD"), actor=Actor(merchant_id=cafe.id),
                                 idempotency_key="sale", merchant=cafe).transaction
        hold = place_hold(db.session, kept, Money(500, "USD"), actor=Actor(merchant_id=cafe.id),
                          idempotency_key="hold", merchant=cafe)
        token, _ = create_token(db.session, cara, "Cara's phone")
        list(ensure_plans(db.session))
        gift, _ = create_gift(db.session, vault, cara, subscription_identifier="plus", payment_method="wallet",
                              recipient_email="erin@example.com")
        order, _ = place_order(db.session, payments(), programme_for(db.session, "USD"), buyer=cara,
                               buyer_email=cara.email, lines=[LineRequest(amount="25.00")],
                               return_url=lambda reference: reference)
        theirs = {"card_id": kept.id, "transfer_id": transfer.id, "transaction_id": sale.id, "token_id": token.id,
                  "gift_id": gift.id, "order_id": order.id, "hold_id": hold.id, **webhook_with_delivery("corner-cafe")}
        own = webhook_with_delivery("book-nook")
        db.session.commit()
        return {"theirs": theirs, "own": {"merchant": own}}


def object_routes(app) -> list[tuple[str, str, tuple[str, ...], frozenset[str]]]:
    """(method, rule, id arguments, roles) for every route that names objects by int ids."""
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            ids = tuple(arg for arg, conv in rule._converters.items() if type(conv).__name__ == "IntegerConverter")
            roles = allowed_roles(rule.endpoint) if rule.endpoint != "static" else None
            if not ids or not roles or roles == ADMIN_ONLY:
                continue
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                found.append((method, rule.rule, ids, roles - ADMIN_ONLY))
    return found


def attacks(rule: str, ids: tuple[str, ...], role: str, world: dict):
    """(attacked id, URL with the victim's object, URL with a made-up id) for each id of the rule.

    The other ids of a rule that names one object inside another (an endpoint's delivery) are the
    intruder's own, so only the attacked id can be what refuses."""
    for arg in ids:
        others = {other: world["own"][role][other] for other in ids if other != arg}

        def url(value: int, others=others, arg=arg) -> str:
            return re.sub(r"<int:(\w+)>", lambda m: str(value if m[1] == arg else others[m[1]]), rule)

        yield arg, url(world["theirs"][arg]), url(MISSING)


def normalised(response) -> object:
    """The answer with what differs on every request (form keys, tokens, ids in hidden fields) blanked.

    A CSRF token carries the second it was signed, so it is blanked whatever it looks like."""
    if response.is_json:
        return response.json
    html = response.get_data(as_text=True)
    html = re.sub(r'(name="csrf[-_]token"[^>]*(?:value|content))="[^"]*"', r'\1=""', html)
    return re.sub(r'(value|content)="[0-9a-f]{16,}[^"]*"', r'\1=""', html)


def answer(client, url: str, method: str, options: dict) -> tuple:
    """What the intruder learns from one request: status, normalised body, and the messages it
    flashed for the next page (taken, so they do not show on the next request's page)."""
    response = client.open(url, method=method, **options)
    with client.session_transaction() as session:
        flashed = session.pop("_flashes", [])
    return response.status_code, normalised(response), flashed


def client_for(app, email: str, role: str):
    client = app.test_client()
    AuthActions(client).login(email)
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        _, token = create_token(db.session, user, "intruder")
        db.session.commit()
    return client, {"Authorization": f"Bearer {token}", "Idempotency-Key": "same-key"}


def test_every_kind_of_object_id_is_attacked(app, world):
    """Is every id kind in a non-admin route seeded here, and every id of a nested one the intruder's own too?"""
    routes = object_routes(app)
    assert {arg for _, _, ids, _ in routes for arg in ids} == set(world["theirs"])
    for _, rule, ids, roles in routes:
        if len(ids) > 1:
            assert all(set(ids) <= set(world["own"].get(role, {})) for role in roles), rule


def test_someone_elses_object_is_as_missing_as_one_that_never_was(app, world):
    """For each route and each id in it, does another customer (or another store's staff) get the
    very answer a made-up id gets, with nothing changed?"""
    intruders = {role: client_for(app, intruder(role), role) for role in ("customer", "merchant")}
    before = database_state(app)
    checked = []
    for method, rule, ids, roles in object_routes(app):
        for role in sorted(roles):
            client, headers = intruders[role]
            api = rule.startswith("/api/")
            options = {"headers": headers, "json": {"reason": "mine now", "amount": "1.00"}} if api else {
                "data": {"reason": "mine now", "amount": "1.00", "password": "correct horse battery"}}
            for arg, theirs_url, missing_url in attacks(rule, ids, role, world):
                headers["Idempotency-Key"] = f"{method} {rule} {arg}"
                theirs = answer(client, theirs_url, method, options)
                if api:
                    headers["Idempotency-Key"] = f"another {method} {rule} {arg}"  # not a replay of the first answer
                missing = answer(client, missing_url, method, options)
                where = (role, method, theirs_url)
                assert theirs[0] >= 400 or theirs[0] in (302, 303), (*where, theirs[0])
                assert theirs == missing, where
                checked.append((method, rule, arg))
    assert {arg for _, _, arg in checked} == set(world["theirs"])
    assert len(checked) >= 30
    assert database_state(app) == before


def test_a_store_sees_only_its_own_sales_in_its_reports(app, world):
    """Does The Book Nook's settlement and totals CSV leave out what Corner Café took?"""
    client = app.test_client()
    AuthActions(client).login(STAFF["book-nook"])
    today = date.today().isoformat()
    for report in ("settlement.csv", "totals.csv"):
        csv = client.get(f"/till/reports/{report}?start={today}&end={today}").get_data(as_text=True)
        assert "3.00" not in csv, report
    own = app.test_client()
    AuthActions(own).login(STAFF["corner-cafe"])
    assert "3.00" in own.get(f"/till/reports/settlement.csv?start={today}&end={today}").get_data(as_text=True)


def test_another_stores_card_history_is_as_unknown_as_a_made_up_code(app, world):
    """Can The Book Nook read the history of a card that works only at Corner Café, even with its code?
    (No: 404, as for a card never looked up.)"""
    with app.app_context():
        cafe = db.session.scalar(sa.select(Merchant).where(Merchant.slug == "corner-cafe"))
        scoped = operations.issue_card(db.session, services().vault, amount=Money(1500, "USD"), actor=SYSTEM,
                                       idempotency_key="scoped", merchant=cafe, scope_to_merchant=True)
        db.session.commit()
    client, headers = client_for(app, STAFF["book-nook"], "merchant")
    card_id = client.post("/api/v1/cards/lookup", json={"code": scoped.code}, headers=headers).json["id"]
    theirs = client.get(f"/api/v1/cards/{card_id}/transactions", headers=headers)
    missing = client.get(f"/api/v1/cards/{card_id + 1000}/transactions", headers=headers)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json == missing.json
    with app.app_context():
        assert db.session.get(GiftCard, world["theirs"]["card_id"]).owner.email == CUSTOMERS[0]
