"""A gift redeemed from 50 sessions at once, through gunicorn on PostgreSQL (issue 10): exactly one
redemption, one subscription, one e-mail to the buyer; everyone else hears already_redeemed."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa

from portal.auth.users import create_user
from portal.extensions import db
from portal.gifts import create_gift, ensure_plans, pay_gift, send_gift
from portal.ledger import Actor, verify
from portal.models import Code, OutboxMessage, User
from portal.models.campaigns import Entitlement
from portal.models.gifts import GiftSubscription
from portal.money import Money
from portal.services import services
from portal.tokens import create_token
from portal.wallet import credit_wallet
from tests.concurrency import at_once, together

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SESSIONS = 50


def gift_for(pg_app, recipient: str | None) -> tuple[int, str]:
    """A paid, sent gift of plus from a buyer with credit; returns its id and code."""
    with pg_app.app_context():
        list(ensure_plans(db.session))
        buyer = create_user(db.session, "buyer@example.com", "a long password", name="Bea")
        credit_wallet(db.session, buyer, Money.parse("10.00", "USD"), actor=Actor(), idempotency_key="seed",
                      reason="test")
        gift, code = create_gift(db.session, services().vault, buyer, subscription_identifier="plus",
                                 payment_method="wallet", recipient_email=recipient)
        pay_gift(db.session, services().vault, gift, actor=Actor(user_id=buyer.id), idempotency_key="pay")
        send_gift(db.session, services().vault, gift, user=buyer)
        db.session.commit()
        return gift.id, code


def tokens_of(pg_app, emails: list[str]) -> list[str]:
    with pg_app.app_context():
        tokens = []
        for email in dict.fromkeys(emails):
            user = create_user(db.session, email, "a long password")
            tokens.append(create_token(db.session, user, "race")[1])
        db.session.commit()
    return tokens


def outcome(pg_app, gift_id: int) -> tuple:
    with pg_app.app_context():
        gift = db.session.get(GiftSubscription, gift_id)
        return (
            gift.status,
            db.session.scalar(sa.select(sa.func.count(Entitlement.id))),
            db.session.scalar(sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.kind == "gift_redeemed")),
            verify(db.session),
        )


def redeem_all(gunicorn_server, code: str, token_for) -> Counter:
    def redeem(session, i):
        return session.post(
            f"{gunicorn_server}/api/v1/gifts/redeem", json={"gift_code": code},
            headers={"Authorization": f"Bearer {token_for(i)}", "Idempotency-Key": f"redeem-{i}"}, timeout=60,
        )

    return Counter(
        (r.status_code, r.json().get("code") if r.status_code != 200 else "ok") for r in together(SESSIONS, redeem)
    )


def test_an_open_gift_raced_by_fifty_customers_is_redeemed_exactly_once(pg_app, gunicorn_server):
    gift_id, code = gift_for(pg_app, None)
    tokens = tokens_of(pg_app, [f"racer{i}@example.com" for i in range(SESSIONS)])
    answers = redeem_all(gunicorn_server, code, lambda i: tokens[i])
    assert answers == Counter({(200, "ok"): 1, (422, "already_redeemed"): SESSIONS - 1})
    assert outcome(pg_app, gift_id) == ("redeemed", 1, 1, [])


def test_the_named_friend_in_fifty_sessions_at_once_gets_one_subscription(pg_app, gunicorn_server):
    """The same friend from 50 sessions: one redemption; the rest hear it was already redeemed."""
    gift_id, code = gift_for(pg_app, "friend@example.com")
    (token,) = tokens_of(pg_app, ["friend@example.com"])
    answers = redeem_all(gunicorn_server, code, lambda i: token)
    assert answers == Counter({(200, "ok"): 1, (422, "already_redeemed"): SESSIONS - 1})
    assert outcome(pg_app, gift_id) == ("redeemed", 1, 1, [])
    with pg_app.app_context():
        ends = db.session.scalar(sa.select(Entitlement.ends_at))
        starts = db.session.scalar(sa.select(Entitlement.starts_at))
        assert (ends - starts).days == 30


def test_one_buy_a_gift_form_submitted_from_ten_threads_at_once_makes_one_gift(pg_app):
    """The form's key reaches create_gift from ten requests at the same instant: every one answers
    with the same gift and code, and one gift (with one stored code) exists."""
    with pg_app.app_context():
        list(ensure_plans(db.session))
        buyer_id = create_user(db.session, "buyer@example.com", "a long password", name="Bea").id
        db.session.commit()

    def buy(_):
        gift, code = create_gift(db.session, services().vault, db.session.get(User, buyer_id),
                                 subscription_identifier="plus", payment_method="wallet", recipient_email=None,
                                 idempotency_key="web:form-1")
        return gift.id, code

    answers = at_once(pg_app, 10, buy)
    assert len(answers) == 10 and len(set(answers)) == 1
    with pg_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(GiftSubscription.id))) == 1
        assert db.session.scalar(sa.select(sa.func.count(Code.id))) == 1


def test_two_gifts_redeemed_by_the_friend_at_the_same_instant_both_add_their_days(pg_app):
    """Gifts stack: two Plus gifts redeemed by Fran from two threads at once give her 60 days, not 30."""
    from portal.gifts import redeem_gift_code

    with pg_app.app_context():
        list(ensure_plans(db.session))
        buyer = create_user(db.session, "buyer@example.com", "a long password", name="Bea")
        friend_id = create_user(db.session, "friend@example.com", "a long password", name="Fran").id
        credit_wallet(db.session, buyer, Money.parse("10.00", "USD"), actor=Actor(), idempotency_key="seed",
                      reason="test")
        codes = []
        for n in range(2):
            gift, code = create_gift(db.session, services().vault, buyer, subscription_identifier="plus",
                                     payment_method="wallet", recipient_email="friend@example.com")
            pay_gift(db.session, services().vault, gift, actor=Actor(user_id=buyer.id), idempotency_key=f"pay-{n}")
            send_gift(db.session, services().vault, gift, user=buyer)
            codes.append(code)
        db.session.commit()

    def redeem(i: int) -> str:
        redeem_gift_code(db.session, services().vault, codes[i], db.session.get(User, friend_id))
        return codes[i]

    assert sorted(at_once(pg_app, 2, redeem)) == sorted(codes)
    with pg_app.app_context():
        (subscription,) = db.session.scalars(sa.select(Entitlement))
        assert (subscription.ends_at - subscription.starts_at).days == 60
        assert verify(db.session) == []
