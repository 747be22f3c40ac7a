"""Demo data for ``portal demo``: idempotent, so it can run on every start.

Money comes through the domain with fixed idempotency keys, so a second run replays instead of
issuing again; campaigns are looked up by name first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.auth.users import by_email, create_user
from portal.campaigns.definitions import create_campaign, read_spec
from portal.cards.codes import CodeVault
from portal.cards.operations import issue_card
from portal.gifts import create_gift, ensure_plans, pay_gift, send_gift
from portal.ledger import SYSTEM, Actor
from portal.loyalty.points import earn
from portal.merchants import by_slug, create_merchant
from portal.models import Campaign, ProgrammeLimits
from portal.models.gifts import GiftSubscription
from portal.money import Money
from portal.orders.programme import Programme
from portal.wallet import credit_wallet

DEMO_PASSWORD = "giftloop-demo"
MERCHANTS = [
    ("corner-cafe", "Corner Café", {"loops_per_unit": 10}),
    ("book-nook", "The Book Nook", {"loops_per_unit": 5, "conversion_rate": 90, "sells_network_cards": True}),
]
USERS = [
    ("admin@giftloop.test", "admin", None, "Ada Admin"),
    ("staff@corner-cafe.test", "merchant", "corner-cafe", "Sam at Corner Café"),
    ("staff@book-nook.test", "merchant", "book-nook", "Bea at The Book Nook"),
    ("alice@giftloop.test", "customer", None, "Alice"),
    ("bob@giftloop.test", "customer", None, "Bob"),
]
CAMPAIGNS = [
    {"name": "Demo: 10% off at Corner Café", "kind": "coupon", "currency": "USD", "code_mode": "vanity",
     "code": "SAVE10", "discount_type": "percent", "discount_value": "10", "max_uses": "100",
     "uses_per_user": "1", "merchants": ["corner-cafe"], "valid_days": "365"},
    {"name": "Demo: 5.00 welcome credit", "kind": "credit", "currency": "USD", "code_mode": "vanity",
     "code": "WELCOME5", "value": "5.00", "max_uses": "100", "uses_per_user": "1", "valid_days": "365"},
]


def load_demo(session: Session, vault: CodeVault) -> Iterator[str]:
    """Create what is missing of the demo; report each thing created."""
    merchants = {}
    for slug, name, rules in MERCHANTS:
        merchant = by_slug(session, slug)
        if merchant is None:
            merchant = create_merchant(session, slug, name, "USD", **rules)
            yield f"merchant {slug}"
        merchants[slug] = merchant
    people = {}
    for email, role, slug, name in USERS:
        user = by_email(session, email)
        if user is None:
            user = create_user(session, email, DEMO_PASSWORD, role=role, name=name, merchant=merchants.get(slug))
            yield f"{role} {email} / {DEMO_PASSWORD}"
        people[email] = user
    alice = people["alice@giftloop.test"]
    usd = "USD"
    for key, amount, merchant, kind in (
        ("demo:alice:network", "50.00", None, "purchased"),
        ("demo:alice:cafe", "20.00", merchants["corner-cafe"], "promotional"),
    ):
        issued = issue_card(
            session, vault, amount=Money.parse(amount, usd), actor=SYSTEM, idempotency_key=key, owner=alice,
            merchant=merchant, scope_to_merchant=merchant is not None, kind=kind,
        )
        yield f"card {issued.card.code.masked} ({amount} {usd}) for {alice.email}"
    credit_wallet(session, alice, Money.parse("5.00", usd), actor=SYSTEM, idempotency_key="demo:alice:credit",
                  reason="Demo welcome credit")
    earn(session, alice, Money.parse("120.00", usd), merchants["corner-cafe"], actor=SYSTEM,
         idempotency_key="demo:alice:loops")
    # Bob holds credit and Loops too, to try every tender at Corner Café's till (README, "At the till").
    bob = people["bob@giftloop.test"]
    credit_wallet(session, bob, Money.parse("3.00", usd), actor=SYSTEM, idempotency_key="demo:bob:credit",
                  reason="Demo welcome credit")
    earn(session, bob, Money.parse("30.00", usd), merchants["corner-cafe"], actor=SYSTEM, idempotency_key="demo:bob:loops")
    bearer = issue_card(session, vault, amount=Money.parse("25.00", usd), actor=SYSTEM,
                        idempotency_key="demo:bearer")
    yield f"bearer card to try at a till or on /balance: {bearer.code}"
    for raw in CAMPAIGNS:
        if session.scalar(sa.select(Campaign.id).where(Campaign.name == raw["name"])) is None:
            create_campaign(session, vault, read_spec(session, raw), actor=SYSTEM)
            yield f"campaign {raw['name']} (code {raw['code']})"
    yield from ensure_plans(session)
    if session.scalar(sa.select(GiftSubscription.id).where(GiftSubscription.buyer_id == alice.id).limit(1)) is None:
        gift, _ = create_gift(session, vault, alice, subscription_identifier="plus", payment_method="loops",
                              recipient_email="bob@giftloop.test", message="Enjoy Plus!")
        pay_gift(session, vault, gift, actor=Actor(user_id=alice.id), idempotency_key="demo:alice:gift")
        send_gift(session, vault, gift, user=alice)
        yield "gift of Giftloop Plus from alice@giftloop.test to bob@giftloop.test (in Bob's gifts)"
    yield from ensure_shop_limits(session, usd)


def ensure_shop_limits(session: Session, currency: str) -> Iterator[str]:
    """The shop's limits as an admin would set them, so the ledger caps card balances too."""
    if session.get(ProgrammeLimits, currency) is None:
        session.add(ProgrammeLimits(**asdict(Programme(currency=currency))))
        session.flush()
        yield f"shop at /shop with the test payment provider; {currency} limits under Admin → Limits"
