"""Buying a gift subscription (DESIGN §2): the price after a coupon, one charge from the wallet or
Loops, sending, cancelling with a refund; every refusal named, and nothing changed by it."""

from __future__ import annotations

import uuid

import pytest

from portal.errors import DomainError
from portal.extensions import db
from portal.gifts import cancel_gift, create_gift, pay_gift, send_gift
from portal.ledger import Actor, verify
from portal.models.gifts import GiftSubscription
from portal.services import services
from tests.factories import user
from tests.gifts import BUYER, FRIEND, STRANGER, coupon, everything, gift_row, mail, make_gift
from tests.reads import loops_of, wallet_of


def test_a_gift_from_the_wallet_is_priced_charged_once_and_mailed_to_the_friend(gifting):
    """Created unpaid at the plan's price; paid once under a replayed key; sent with its code by e-mail."""
    app = gifting
    gift_id, code = make_gift(app, pay=False)
    gift = gift_row(app, gift_id)
    assert (gift.status, gift.paid, gift.price, gift.currency) == ("created", False, 499, "USD")
    assert code.startswith("GIFT-") and gift.subscription_duration_days == 30
    assert wallet_of(app, BUYER) == 2000
    with app.app_context():
        buyer, row = user(BUYER), db.session.get(GiftSubscription, gift_id)
        for _ in range(2):  # a double click: the same key charges once
            pay_gift(db.session, services().vault, row, actor=Actor(user_id=buyer.id), idempotency_key="web:pay-1")
        db.session.commit()
    assert wallet_of(app, BUYER) == 2000 - 499
    assert (gift_row(app, gift_id).status, gift_row(app, gift_id).paid) == ("created", True)
    assert mail(app, "gift_received") == []
    with app.app_context():
        send_gift(db.session, services().vault, db.session.get(GiftSubscription, gift_id), user=user(BUYER))
        db.session.commit()
    (message,) = mail(app, "gift_received")
    assert message.recipient == FRIEND and code not in str(message.context)
    with app.app_context():
        assert services().vault.decrypt(message.code_ciphertext) == code
        assert verify(db.session) == []
    assert gift_row(app, gift_id).status == "sent"


def test_loops_pay_the_plans_price_in_loops(gifting):
    make_gift(gifting, method="loops")
    assert loops_of(gifting, BUYER) == 1000 - 499 and wallet_of(gifting, BUYER) == 2000


def test_a_coupon_shows_its_discount_at_once_and_is_counted_only_when_paid(gifting):
    app = gifting
    coupon(app)
    gift_id, _ = make_gift(app, pay=False, coupon_code="gift10")
    assert (gift_row(app, gift_id).discount, everything(app)["uses"]) == (50, 0)
    with app.app_context():
        buyer = user(BUYER)
        pay_gift(db.session, services().vault, db.session.get(GiftSubscription, gift_id),
                 actor=Actor(user_id=buyer.id), idempotency_key="web:pay")
        db.session.commit()
    assert everything(app)["uses"] == 1 and wallet_of(app, BUYER) == 2000 - 449


def test_a_longer_gift_costs_whole_periods(gifting):
    gift_id, _ = make_gift(gifting, subscription_duration_days=90)
    assert gift_row(gifting, gift_id).price == 3 * 499 and wallet_of(gifting, BUYER) == 2000 - 1497


@pytest.mark.parametrize(
    ("choices", "code", "field"),
    [
        ({"subscription_identifier": "gold"}, "validation_error", "subscription_identifier"),
        ({"payment_method": "cash"}, "validation_error", "payment_method"),
        ({"recipient_email": "not-an-address"}, "validation_error", "recipient_email"),
        ({"recipient_email": "Customer@Example.com"}, "validation_error", "recipient_email"),
        ({"message": "x" * 501}, "validation_error", "message"),
        ({"message": "Also take gc-0000-0000-0000-0000-0"}, "validation_error", "message"),
        ({"gift_duration_days": 0}, "validation_error", "gift_duration_days"),
        ({"subscription_duration_days": 31}, "validation_error", "subscription_duration_days"),
        ({"coupon": "NOSUCHCOUPON"}, "not_found", "code"),
        ({"coupon": "WEBONLY"}, "not_valid_here", "code"),
        ({"coupon": "FIVEUSD", "payment_method": "loops"}, "currency_mismatch", "order_total"),
    ],
)
def test_each_purchase_refusal_is_named_and_changes_nothing(gifting, choices, code, field):
    app = gifting
    coupon(app, "WEBONLY", channels="web")
    coupon(app, "FIVEUSD", discount_type="fixed", discount_value="1.00", currency="USD")
    before = everything(app)
    with app.app_context():
        values = {"subscription_identifier": "plus", "payment_method": "wallet", "recipient_email": FRIEND,
                  "channel": "api", **choices}
        with pytest.raises(DomainError) as refused:
            create_gift(db.session, services().vault, user(BUYER), **values)
        db.session.rollback()
    assert (refused.value.code, refused.value.field) == (code, field)
    assert refused.value.message
    assert everything(app) == before


def test_only_customers_buy_gifts(gifting):
    with gifting.app_context():
        with pytest.raises(DomainError) as refused:
            create_gift(db.session, services().vault, user("staff@example.com"), subscription_identifier="plus",
                        payment_method="wallet")
    assert refused.value.code == "forbidden"


def test_too_little_credit_or_loops_is_refused_and_counts_no_coupon(gifting):
    """Short of money, the gift stays unpaid, the coupon's use uncounted, and the message says why."""
    app = gifting
    coupon(app)
    expensive, _ = make_gift(app, pay=False, subscription_duration_days=150, coupon_code="GIFT10")
    in_loops, _ = make_gift(app, pay=False, method="loops", subscription_duration_days=90)
    before = everything(app)
    messages = []
    with app.app_context():
        buyer = user(BUYER)
        for gift_id in (expensive, in_loops):
            with pytest.raises(DomainError) as refused:
                pay_gift(db.session, services().vault, db.session.get(GiftSubscription, gift_id),
                         actor=Actor(user_id=buyer.id), idempotency_key=f"web:{uuid.uuid4()}")
            db.session.rollback()
            messages.append((refused.value.code, refused.value.message))
    assert messages == [
        ("insufficient_funds", "Your wallet holds 20.00 USD; this gift needs 22.45 USD"),
        ("insufficient_funds", "You have 1000 Loops; this needs 1497"),
    ]
    assert everything(app) == before


def test_sending_needs_payment_and_happens_once_and_an_open_gift_mails_nobody(gifting):
    app = gifting
    unpaid, _ = make_gift(app, pay=False)
    sent, _ = make_gift(app)
    open_gift, _ = make_gift(app, to=None)
    before = everything(app)
    with app.app_context():
        buyer = user(BUYER)
        for gift_id, words in ((unpaid, "Pay for the gift before sending it"), (sent, "This gift was already sent")):
            with pytest.raises(DomainError, match=words):
                send_gift(db.session, services().vault, db.session.get(GiftSubscription, gift_id), user=buyer)
            db.session.rollback()
        with pytest.raises(DomainError) as refused:
            send_gift(db.session, services().vault, db.session.get(GiftSubscription, unpaid), user=user(FRIEND))
        db.session.rollback()
    assert refused.value.code == "not_found"
    assert everything(app) == before
    assert gift_row(app, open_gift).status == "sent"
    assert [m.context["gift_id"] for m in mail(app, "gift_received")] == [sent]


def test_cancelling_refunds_the_wallet_or_the_loops_once(gifting):
    app = gifting
    by_wallet, _ = make_gift(app)
    by_loops, _ = make_gift(app, method="loops", send=False)
    unpaid, _ = make_gift(app, pay=False)
    assert (wallet_of(app, BUYER), loops_of(app, BUYER)) == (2000 - 499, 1000 - 499)
    with app.app_context():
        buyer = user(BUYER)
        for gift_id in (by_wallet, by_loops, unpaid):
            cancel_gift(db.session, db.session.get(GiftSubscription, gift_id), user=buyer)
        db.session.commit()
        with pytest.raises(DomainError, match=r"already ended \(cancelled\)"):
            cancel_gift(db.session, db.session.get(GiftSubscription, by_wallet), user=buyer)
        db.session.rollback()
        assert verify(db.session) == []
    assert (wallet_of(app, BUYER), loops_of(app, BUYER)) == (2000, 1000)
    assert {gift_row(app, g).status for g in (by_wallet, by_loops, unpaid)} == {"cancelled"}
    assert gift_row(app, unpaid).refund_transaction_id is None


def test_only_the_buyer_cancels_and_never_after_the_friend_redeemed(gifting):
    from portal.gifts import redeem_gift

    app = gifting
    gift_id, _ = make_gift(app)
    with app.app_context():
        with pytest.raises(DomainError) as stranger:
            cancel_gift(db.session, db.session.get(GiftSubscription, gift_id), user=user(STRANGER))
        db.session.rollback()
        redeem_gift(db.session, db.session.get(GiftSubscription, gift_id), user(FRIEND))
        db.session.commit()
        with pytest.raises(DomainError) as late:
            cancel_gift(db.session, db.session.get(GiftSubscription, gift_id), user=user(BUYER))
        db.session.rollback()
    assert stranger.value.code == "not_found"
    assert (late.value.code, late.value.message) == ("already_redeemed", "Your friend has already redeemed this gift")
    assert wallet_of(app, BUYER) == 2000 - 499


def test_the_demo_puts_plus_on_sale_and_gives_bob_a_gift_once(app, runner):
    from portal.models.gifts import SubscriptionPlan

    for _ in range(2):
        result = runner.invoke(args=["demo"])
        assert result.exit_code == 0, result.output
    with app.app_context():
        (plan,) = db.session.scalars(db.select(SubscriptionPlan)).all()
        (gift,) = db.session.scalars(db.select(GiftSubscription)).all()
        assert (plan.identifier, plan.duration_days, plan.price, plan.price_loops) == ("plus", 30, 499, 499)
        assert (gift.status, gift.recipient_email, gift.payment_method) == ("sent", "bob@giftloop.test", "loops")
        assert verify(db.session) == []
