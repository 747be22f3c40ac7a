"""Builders for tests: people, stores, cards, credit, Loops and coupons, made through the domain
as the portal itself makes them, each committed in its own app context."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.ledger import SYSTEM, Actor
from portal.models import GiftCard, Merchant, User, utcnow
from portal.money import Money
from portal.services import services

PASSWORD = "correct horse battery"


def new_key() -> str:
    """An idempotency key as a form would carry it."""
    return uuid.uuid4().hex


def user(email: str) -> User:
    """The user with this address (inside an app context)."""
    return db.session.scalar(sa.select(User).where(User.email == email))


def merchant_by_slug(slug: str) -> Merchant | None:
    """The store with this slug (inside an app context)."""
    return db.session.scalar(sa.select(Merchant).where(Merchant.slug == slug))


def add_customer(app, email: str, name: str = "") -> int:
    from portal.auth.users import create_user

    with app.app_context():
        created = create_user(db.session, email, PASSWORD, name=name)
        db.session.commit()
        return created.id


def add_merchant(app, slug: str, name: str, staff: str | None = None, **rules) -> None:
    """Another store, with one staff member if named."""
    from portal.auth.users import create_user
    from portal.merchants import create_merchant

    with app.app_context():
        store = create_merchant(db.session, slug, name, **rules)
        if staff:
            create_user(db.session, staff, PASSWORD, role="merchant", merchant=store, name=slug)
        db.session.commit()


def set_merchant(app, slug: str, **values) -> None:
    with app.app_context():
        store = merchant_by_slug(slug)
        for name, value in values.items():
            setattr(store, name, value)
        db.session.commit()


def add_loops(app, email: str, loops: int) -> None:
    """Loops from the points pool, as a till's award would give them (lifetime stays, so Bronze)."""
    from portal.ledger import post, system_account
    from portal.loyalty.points import loops_account

    with app.app_context():
        account = loops_account(db.session, user(email))
        post(
            db.session, kind="points_earn", actor=SYSTEM, idempotency_key=f"test-loops:{new_key()}",
            request_hash="test", legs=[(system_account(db.session, "points_pool", "LOOP"), -loops), (account, loops)],
        )
        db.session.commit()


def add_credit(app, email: str, amount: str, currency: str = "USD") -> None:
    from portal.wallet import credit_wallet

    with app.app_context():
        credit_wallet(
            db.session, user(email), Money.parse(amount, currency), actor=SYSTEM,
            idempotency_key=f"test-credit:{new_key()}", reason="test goodwill",
        )
        db.session.commit()


def earn_loops_at_cafe(app, email: str, loops: int) -> None:
    """Loops earned by a purchase at corner-cafe (10 Loops per 1.00), so they count for the tier."""
    from portal.loyalty.points import earn

    with app.app_context():
        earn(db.session, user(email), Money(loops * 10, "USD"), merchant_by_slug("corner-cafe"), actor=Actor(),
             idempotency_key=new_key())
        db.session.commit()


def give(app, email: str, *, credit: str | None = None, loops: int = 0) -> None:
    """Wallet credit (USD) and Loops earned at corner-cafe, for a customer."""
    if credit:
        add_credit(app, email, credit)
    if loops:
        earn_loops_at_cafe(app, email, loops)


def issue(app, *, owner: str | None = None, amount: str = "25.00", kind: str = "purchased", merchant: str | None = None,
          scoped: bool | None = None, days: int | None = None, currency: str = "USD", status: str = "active",
          expired: bool = False) -> tuple[int, str]:
    """A new card (bearer if no owner) issued by ``merchant``; ``scoped`` overrides where it is
    valid, as ``issue_card``'s ``scope_to_merchant`` does. Returns its id and full code."""
    from portal.cards.operations import issue_card

    with app.app_context():
        store = merchant_by_slug(merchant) if merchant else None
        issued = issue_card(
            db.session, services().vault, amount=Money.parse(amount, currency), actor=SYSTEM,
            idempotency_key=f"test-issue:{new_key()}", owner=user(owner) if owner else None, merchant=store,
            scope_to_merchant=scoped, kind=kind, expires_in_days=days,
        )
        issued.card.status = status
        if expired:
            issued.card.expires_at = utcnow() - timedelta(days=1)
        db.session.commit()
        return issued.card.id, issued.code


def card_and_cafe(app, amount: str) -> tuple[int, int]:
    """On an empty database, corner-cafe and a committed network card of ``amount`` USD that it
    takes: (card id, merchant id)."""
    from portal.cards.operations import issue_card

    with app.app_context():
        cafe = Merchant(slug="corner-cafe", name="Corner Café", currency="USD")
        db.session.add(cafe)
        db.session.flush()
        issued = issue_card(
            db.session, services().vault, amount=Money.parse(amount, "USD"), actor=Actor(), idempotency_key="issue-1"
        )
        db.session.commit()
        ids = issued.card.id, cafe.id
        db.session.remove()
    return ids


def make_card(app, amount: str = "10.00", *, merchant: str | None = None, **options) -> str:
    """A card's full code; ``merchant`` makes it valid only at that store."""
    return issue(app, amount=amount, merchant=merchant, scoped=True if merchant else None, **options)[1]


def pay_at_till(app, card_id: int, amount: str, merchant: str = "corner-cafe") -> None:
    """A redemption made elsewhere, as a till would make it."""
    from portal.cards.operations import redeem

    with app.app_context():
        store = merchant_by_slug(merchant)
        redeem(
            db.session, db.session.get(GiftCard, card_id), Money.parse(amount, "USD"),
            actor=Actor(merchant_id=store.id), idempotency_key=f"test-till:{new_key()}", merchant=store,
        )
        db.session.commit()


def redeem_at_cafe(app, amount: str = "3.00") -> str:
    """A 10.00 card sold at corner-cafe, then paid with there; returns its full code."""
    card_id, code = issue(app, amount="10.00", merchant="corner-cafe")
    pay_at_till(app, card_id, amount)
    return code


def expire(app, card_id: int) -> None:
    """Put the card's date in the past (the sweep has not run yet)."""
    with app.app_context():
        db.session.get(GiftCard, card_id).expires_at = utcnow() - timedelta(days=1)
        db.session.commit()


def freeze_card(app, card_id: int) -> None:
    from portal.cards.operations import freeze

    with app.app_context():
        freeze(db.session, db.session.get(GiftCard, card_id), actor=SYSTEM, reason="test")
        db.session.commit()


def unusable_cards(app) -> tuple[str, str, str]:
    """Three bearer cards nobody can use, each for its own reason: expired, frozen, spent; their codes."""
    old, old_code = issue(app, kind="promotional", days=30)
    expire(app, old)
    cold, cold_code = issue(app)
    freeze_card(app, cold)
    spent, spent_code = issue(app, amount="5.00")
    pay_at_till(app, spent, "5.00")
    return old_code, cold_code, spent_code


def make_coupon(app, code: str = "SAVE20", **rules) -> int:
    """A coupon campaign with one shared code (20% off unless told), made through the domain; its id."""
    from portal.campaigns.definitions import create_campaign, read_spec

    raw = {"name": f"Coupon {code}", "kind": "coupon", "discount_type": "percent", "discount_value": "20",
           "code_mode": "vanity", "code": code, **rules}
    with app.app_context():
        campaign = create_campaign(db.session, services().vault, read_spec(db.session, raw, now=utcnow()), actor=Actor())
        db.session.commit()
        return campaign.id
