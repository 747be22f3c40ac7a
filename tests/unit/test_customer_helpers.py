"""Helpers for the customer portal's tests: cards, Loops and tills set up through the domain.

No tests here; the customer test modules (unit and browser) import these.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import sqlalchemy as sa

from portal.auth.users import create_user
from portal.cards.operations import freeze, issue_card, redeem
from portal.extensions import db
from portal.ledger import SYSTEM, Actor, post, system_account
from portal.loyalty.points import loops_account
from portal.models import Account, GiftCard, Merchant, Transaction, Transfer, User, utcnow
from portal.money import Money
from portal.services import services
from portal.wallet import credit_wallet
from tests.conftest import PASSWORD

HTMX = {"HX-Request": "true"}


def new_key() -> str:
    """An idempotency key as the form would carry it."""
    return uuid.uuid4().hex


def user(email: str) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


def add_customer(app, email: str, name: str = "") -> int:
    with app.app_context():
        created = create_user(db.session, email, PASSWORD, name=name)
        db.session.commit()
        return created.id


def add_loops(app, email: str, loops: int) -> None:
    """Loops from the points pool, as a till's award would give them (lifetime stays, so Bronze)."""
    with app.app_context():
        account = loops_account(db.session, user(email))
        post(
            db.session, kind="points_earn", actor=SYSTEM, idempotency_key=f"test-loops:{new_key()}",
            request_hash="test", legs=[(system_account(db.session, "points_pool", "LOOP"), -loops), (account, loops)],
        )
        db.session.commit()


def add_credit(app, email: str, amount: str, currency: str = "USD") -> None:
    with app.app_context():
        credit_wallet(
            db.session, user(email), Money.parse(amount, currency), actor=SYSTEM,
            idempotency_key=f"test-credit:{new_key()}", reason="test goodwill",
        )
        db.session.commit()


def issue(app, *, owner: str | None = None, amount: str = "25.00", kind: str = "purchased", merchant: str | None = None,
          days: int | None = None) -> tuple[int, str]:
    """A new card (bearer if no owner); returns its id and full code."""
    with app.app_context():
        shop = db.session.scalar(sa.select(Merchant).where(Merchant.slug == merchant)) if merchant else None
        issued = issue_card(
            db.session, services().vault, amount=Money.parse(amount, "USD"), actor=SYSTEM,
            idempotency_key=f"test-issue:{new_key()}", owner=user(owner) if owner else None, merchant=shop,
            kind=kind, expires_in_days=days,
        )
        db.session.commit()
        return issued.card.id, issued.code


def pay_at_till(app, card_id: int, amount: str, merchant: str = "corner-cafe") -> None:
    """A redemption made elsewhere, as a till would make it."""
    with app.app_context():
        shop = db.session.scalar(sa.select(Merchant).where(Merchant.slug == merchant))
        redeem(
            db.session, db.session.get(GiftCard, card_id), Money.parse(amount, "USD"),
            actor=Actor(merchant_id=shop.id), idempotency_key=f"test-till:{new_key()}", merchant=shop,
        )
        db.session.commit()


def expire(app, card_id: int) -> None:
    """Put the card's date in the past (the sweep has not run yet)."""
    with app.app_context():
        card = db.session.get(GiftCard, card_id)
        card.expires_at = utcnow() - timedelta(days=1)
        db.session.commit()


def freeze_card(app, card_id: int) -> None:
    with app.app_context():
        freeze(db.session, db.session.get(GiftCard, card_id), actor=SYSTEM, reason="test")
        db.session.commit()


def card_balance(app, card_id: int) -> int:
    with app.app_context():
        card = db.session.get(GiftCard, card_id)
        return db.session.scalar(sa.select(Account.balance).where(Account.id == card.account_id))


def loops_of(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Account.balance).where(Account.key == f"loops:{user(email).id}")) or 0


def owner_of(app, card_id: int) -> int | None:
    with app.app_context():
        return db.session.get(GiftCard, card_id).owner_id


def snapshot(app) -> dict:
    """Everything a refusal must leave as it was."""
    with app.app_context():
        return {
            "cards": db.session.scalar(sa.select(sa.func.count(GiftCard.id))),
            "transactions": db.session.scalar(sa.select(sa.func.count(Transaction.id))),
            "transfers": db.session.scalar(sa.select(sa.func.count(Transfer.id))),
            "balances": dict(db.session.execute(sa.select(Account.key, Account.balance)).all()),
            "owners": dict(db.session.execute(sa.select(GiftCard.id, GiftCard.owner_id)).all()),
        }


def text(response) -> str:
    """The visible words of a page, with tags and runs of spaces collapsed."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    words = re.sub(r"<[^>]+>", " ", html)
    for entity, char in (("&#39;", "'"), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&#34;", '"'), ("&quot;", '"')):
        words = words.replace(entity, char)
    return re.sub(r"\s+", " ", words)


def user_id(app, email: str) -> int:
    with app.app_context():
        return user(email).id
