"""Gift subscriptions in tests: plans on sale, gifts in each state, and what a refusal must leave.

The ``gifting`` fixture (tests/conftest.py) sets the stage; the gift tests (unit, API, browser,
races) use these.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.gifts import cancel_gift, create_gift, pay_gift, redeem_gift_code, send_gift
from portal.ledger import Actor
from portal.models import Account, OutboxMessage, Transaction, utcnow
from portal.models.campaigns import CampaignUse, Entitlement
from portal.models.gifts import GiftSubscription
from portal.services import services
from tests.factories import make_coupon, user

BUYER = "customer@example.com"
FRIEND = "friend@example.com"
STRANGER = "stranger@example.com"


def coupon(app, code="GIFT10", **rules) -> None:
    """A coupon (10% off unless told) the gift purchase may use."""
    make_coupon(app, code, **{"discount_value": "10", **rules})


def make_gift(app, *, to=FRIEND, method="wallet", pay=True, send=True, coupon_code=None, **choices) -> tuple[int, str]:
    """A gift from the buyer in the state asked for; returns its id and full code."""
    with app.app_context():
        buyer = user(BUYER)
        gift, code = create_gift(
            db.session, services().vault, buyer, subscription_identifier="plus", payment_method=method,
            recipient_email=to, coupon=coupon_code, **choices,
        )
        if pay:
            pay_gift(db.session, services().vault, gift, actor=Actor(user_id=buyer.id), idempotency_key=f"t:{uuid.uuid4()}")
        if pay and send:
            send_gift(db.session, services().vault, gift, user=buyer)
        db.session.commit()
        return gift.id, code


def gift_row(app, gift_id: int) -> GiftSubscription:
    with app.app_context():
        gift = db.session.get(GiftSubscription, gift_id)
        db.session.expunge(gift)
        return gift


def age(app, gift_id: int, *, created_hours: int = 0, expired: bool = False) -> None:
    """Move a gift back in time: created so many hours ago, or past its redeem-by date."""
    with app.app_context():
        gift = db.session.get(GiftSubscription, gift_id)
        if created_hours:
            gift.created_at = utcnow() - timedelta(hours=created_hours)
        if expired:
            gift.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()


def subscription_end(app, email: str, feature: str = "plus"):
    with app.app_context():
        return db.session.scalar(
            sa.select(Entitlement.ends_at).where(Entitlement.user_id == user(email).id, Entitlement.feature == feature)
        )


def everything(app) -> dict:
    """What a refusal must leave as it was: gifts and their states, balances, transactions, uses, mail."""
    with app.app_context():
        return {
            "gifts": dict(db.session.execute(sa.select(GiftSubscription.id, GiftSubscription.status)).all()),
            "paid": dict(db.session.execute(sa.select(GiftSubscription.id, GiftSubscription.paid_at)).all()),
            "balances": dict(db.session.execute(sa.select(Account.key, Account.balance)).all()),
            "transactions": db.session.scalar(sa.select(sa.func.count(Transaction.id))),
            "uses": db.session.scalar(sa.select(sa.func.count(CampaignUse.id))),
            "entitlements": dict(db.session.execute(sa.select(Entitlement.user_id, Entitlement.ends_at)).all()),
            "mail": db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))),
        }


def mail(app, kind: str) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


TO_FRIEND = {"subscription_identifier": "plus", "payment_method": "wallet", "recipient_email": FRIEND,
             "message": "Happy birthday!"}


def gift_case(app, case: str) -> tuple[str, str]:
    """A gift in the state ``case`` names, and who tries to redeem it."""
    if case == "unsent":
        return make_gift(app, send=False)[1], FRIEND
    if case == "unpaid":
        return make_gift(app, pay=False)[1], FRIEND
    gift_id, code = make_gift(app)
    if case == "cancelled":
        with app.app_context():
            cancel_gift(db.session, db.session.get(GiftSubscription, gift_id), user=user(BUYER))
            db.session.commit()
    elif case == "expired":
        age(app, gift_id, expired=True)  # past its date, before the sweep has run
    elif case == "redeemed":
        redeem(app, code, FRIEND)
    elif case == "stranger":
        return code, STRANGER
    elif case == "staff":
        return code, "staff@example.com"
    elif case == "unknown":
        return "GIFT-0000-0000-0000-0000", FRIEND
    elif case == "malformed":
        return "GIFT-12", FRIEND
    return code, FRIEND


def redeem(app, code: str, email: str):
    with app.app_context():
        redeemed = redeem_gift_code(db.session, services().vault, code, user(email))
        db.session.commit()
        return redeemed.message
