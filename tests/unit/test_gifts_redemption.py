"""Redeeming a gift subscription (DESIGN §2) and the hourly sweep: the friend's subscription starts
once, the buyer hears of it; each refusal named and changing nothing; unpaid gifts removed after
24 hours and sent gifts past their date expired with a refund."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.campaigns.entitlements import grant
from portal.claims import redeem_any
from portal.errors import DomainError
from portal.extensions import db
from portal.gifts import check_gift, redeem_gift_code
from portal.jobs.sweeps import run_gifts
from portal.ledger import verify
from portal.models import Code, utcnow
from portal.models.gifts import GiftSubscription
from portal.services import services
from tests.factories import user
from tests.gifts import (
    BUYER,
    FRIEND,
    STRANGER,
    age,
    everything,
    gift_case,
    gift_row,
    mail,
    make_gift,
    redeem,
    subscription_end,
)
from tests.reads import wallet_of


def test_the_named_friend_redeems_in_any_spelling_and_the_buyer_is_told(gifting):
    app = gifting
    gift_id, code = make_gift(app)
    typed = code.lower().replace("-", " ").replace("1", "l")
    message = redeem(app, typed, FRIEND)
    ends = subscription_end(app, FRIEND)
    assert abs(ends - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
    assert message.startswith("Giftloop Plus is yours until ")
    gift = gift_row(app, gift_id)
    assert gift.status == "redeemed" and gift.redeemed_by_id is not None
    (told,) = mail(app, "gift_redeemed")
    assert told.recipient == BUYER and told.context["by_name"] == "Fran"
    with app.app_context():
        assert verify(db.session) == []


def test_an_open_gift_is_for_whoever_has_the_code(gifting):
    _, code = make_gift(gifting, to=None)
    redeem(gifting, code, STRANGER)
    assert subscription_end(gifting, STRANGER) is not None


def test_a_lapsed_subscription_does_not_stand_in_the_way(gifting):
    app = gifting
    _, code = make_gift(app)
    with app.app_context():
        grant(db.session, user(FRIEND), "plus", 30, now=utcnow() - timedelta(days=40))
        db.session.commit()
    redeem(app, code, FRIEND)
    assert subscription_end(app, FRIEND) > utcnow() + timedelta(days=29)


def test_gifts_stack_a_second_plus_starts_when_the_first_ends_and_the_check_says_so(gifting):
    """Fran holds Plus: is the next gift redeemable, does the check say its days come after hers,
    and do they?"""
    app = gifting
    _, first = make_gift(app)
    _, second = make_gift(app)
    redeem(app, first, FRIEND)
    ends = subscription_end(app, FRIEND)
    with app.app_context():
        checked = check_gift(db.session, services().vault, second, user(FRIEND))
    assert checked.can_redeem
    assert checked.message == (f"Giftloop Plus for 30 days: ready to redeem, added after yours ends on "
                               f"{ends.day} {ends:%B %Y}")
    message = redeem(app, second, FRIEND)
    stacked = subscription_end(app, FRIEND)
    assert stacked == ends + timedelta(days=30)
    assert message == f"Giftloop Plus is yours until {stacked.day} {stacked:%B %Y}"
    with app.app_context():
        assert verify(db.session) == []


@pytest.mark.parametrize(
    ("case", "code", "words"),
    [
        ("unsent", "validation_error", "This gift has not been sent yet"),
        ("unpaid", "validation_error", "This gift has not been sent yet"),
        ("cancelled", "cancelled", "The sender cancelled this gift"),
        ("expired", "expired", "This gift expired on "),
        ("redeemed", "already_redeemed", "This gift was already redeemed"),
        ("stranger", "forbidden", "This gift was sent to a different e-mail address"),
        ("staff", "forbidden", "Only customer accounts can redeem gifts"),
        ("unknown", "not_found", "We don't recognise that gift code"),
        ("malformed", "validation_error", "That doesn't look like a gift code"),
    ],
)
def test_each_redemption_refusal_is_named_the_check_agrees_and_nothing_changes(gifting, case, code, words):
    app = gifting
    text, who = gift_case(app, case)
    before = everything(app)
    with app.app_context():
        redeemer = user(who)
        with pytest.raises(DomainError) as refused:
            redeem_gift_code(db.session, services().vault, text, redeemer)
        db.session.rollback()
        try:
            checked = check_gift(db.session, services().vault, text, redeemer)
        except DomainError as error:  # no gift to speak of: the check refuses as redeeming does
            assert error.code == refused.value.code
        else:
            assert (checked.can_redeem, checked.error.code, checked.message) == (
                False, refused.value.code, refused.value.message)
        db.session.rollback()
    assert refused.value.code == code and refused.value.message.startswith(words)
    assert everything(app) == before


def test_the_check_says_yes_for_a_redeemable_gift_and_changes_nothing(gifting):
    app = gifting
    _, code = make_gift(app)
    before = everything(app)
    with app.app_context():
        checked = check_gift(db.session, services().vault, code, user(FRIEND))
        assert checked.can_redeem and checked.error is None and "30 days" in checked.message
        db.session.commit()
    assert everything(app) == before


def test_redeem_a_code_takes_gift_codes_too(gifting):
    app = gifting
    _, code = make_gift(app)
    with app.app_context():
        redeemed = redeem_any(db.session, services().vault, services().qr, code, user(FRIEND))
        db.session.commit()
    assert redeemed.kind == "gift" and redeemed.message.startswith("Giftloop Plus is yours until ")
    assert subscription_end(app, FRIEND) is not None


# --- The hourly sweep -------------------------------------------------------------------------


def test_the_sweep_removes_gifts_left_unpaid_for_a_day_and_nothing_else(gifting):
    app = gifting
    stale, _ = make_gift(app, pay=False)
    fresh, _ = make_gift(app, pay=False)
    paid, _ = make_gift(app, send=False)
    for gift_id, hours in ((stale, 25), (fresh, 23), (paid, 48)):
        age(app, gift_id, created_hours=hours)
    codes_before = _count(app, Code)
    with app.app_context():
        assert run_gifts() == {"removed": 1, "expired": 0}
        assert run_gifts() == {"removed": 0, "expired": 0}
    with app.app_context():
        assert db.session.get(GiftSubscription, stale) is None
        assert {db.session.get(GiftSubscription, g).status for g in (fresh, paid)} == {"created"}
    assert _count(app, Code) == codes_before - 1


def test_the_sweep_expires_paid_gifts_past_their_date_sent_or_not_and_refunds_once(gifting):
    """A program may pay for a gift and never send it: at its date it expires and is refunded
    like a sent one. An unpaid gift past its date is left for removal, with nothing to refund."""
    app = gifting
    late, _ = make_gift(app)
    never_sent, _ = make_gift(app, send=False)
    unpaid, _ = make_gift(app, pay=False)
    on_time, _ = make_gift(app)
    for gift_id in (late, never_sent, unpaid):
        age(app, gift_id, expired=True)
    assert wallet_of(app, BUYER) == 2000 - 3 * 499
    with app.app_context():
        assert run_gifts() == {"removed": 0, "expired": 2}
        assert run_gifts() == {"removed": 0, "expired": 0}
        assert verify(db.session) == []
    statuses = [gift_row(app, gift_id).status for gift_id in (late, never_sent, unpaid, on_time)]
    assert statuses == ["expired", "expired", "created", "sent"]
    assert wallet_of(app, BUYER) == 2000 - 499


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(model.id)))
