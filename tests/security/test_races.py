"""Races through the real stack: 50 requests on 50 connections released together by a barrier
(gunicorn speaks HTTP/1.1, so there is no single-packet HTTP/2 release to add)."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa

from portal.campaigns.definitions import create_campaign, read_spec
from portal.cards.lookup import find_card
from portal.errors import NotFound
from portal.extensions import db
from portal.ledger import SYSTEM, Actor
from portal.loyalty.points import earn
from portal.models import Account, GiftCard, Merchant, OutboxMessage, Transfer, User
from portal.models.campaigns import Campaign, CampaignUse
from portal.money import Money
from portal.services import services
from tests.security.conftest import CUSTOMERS, STAFF

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

BURST = 50


def outcomes(answers) -> Counter:
    """(status, problem code) of each answer; an exception is reported as itself."""
    return Counter(
        (a.status_code, a.json().get("code") if a.status_code >= 400 else None) if hasattr(a, "status_code") else repr(a)
        for a in answers
    )


def campaign(stack, **raw) -> int:
    with stack.app.app_context():
        made = create_campaign(db.session, services().vault, read_spec(db.session, {"name": "Race", **raw}), actor=SYSTEM)
        db.session.commit()
        return made.id


def uses(stack, campaign_id: int) -> tuple[int, int]:
    """The campaign's use counter and its use rows: the two must agree."""
    with stack.app.app_context():
        return (
            db.session.get(Campaign, campaign_id).uses,
            db.session.scalar(sa.select(sa.func.count(CampaignUse.id)).where(CampaignUse.campaign_id == campaign_id)),
        )


def customers(stack, count: int) -> list[str]:
    """``count`` customers of their own (beyond the seeded two)."""
    from portal.auth.users import create_user

    emails = [f"racer{i}@example.com" for i in range(count)]
    with stack.app.app_context():
        for email in emails:
            create_user(db.session, email, "a long password")
        db.session.commit()
    return emails


@pytest.mark.usefixtures("payment_path")
def test_fifty_tills_taking_ten_from_a_twenty_five_card_get_exactly_two_payments(stack):
    """50 × 10.00 against a 25.00 card at once: exactly 2 succeed, 48 are refused, 5.00 is left."""
    card_id, code = stack.card("25.00")
    staff = STAFF["corner-cafe"]
    answers = stack.together(BURST, lambda s, i: stack.api(staff, "POST", "/cards/redeem", json={"code": code, "amount": "10.00"}, session=s))
    assert outcomes(answers) == {(200, None): 2, (422, "insufficient_funds"): 48}
    assert stack.balance(card_id) == 500
    assert stack.transactions("redeem") == 2
    assert stack.verify() == []


def test_a_single_use_coupon_from_fifty_tills_is_used_once(stack):
    """A coupon of one use, redeemed by 50 staff sessions at once: one discount, 49 refusals."""
    coupon = campaign(stack, kind="coupon", discount_type="percent", discount_value="10", max_uses="1",
                      code_mode="vanity", code="ONCE")
    staff = STAFF["corner-cafe"]
    body = {"code": "ONCE", "order_total": "20.00"}
    answers = stack.together(BURST, lambda s, i: stack.api(staff, "POST", "/coupons/redeem", json=body, session=s))
    assert outcomes(answers) == {(200, None): 1, (422, "usage_limit_reached"): 49}
    assert uses(stack, coupon) == (1, 1)


def test_one_customer_at_fifty_tills_gets_only_their_one_use(stack):
    """A coupon of one use per customer, for the same address at 50 tills at once: one use."""
    coupon = campaign(stack, kind="coupon", discount_type="fixed", currency="USD", discount_value="2.00",
                      uses_per_user="1", code_mode="vanity", code="MINE")
    staff = STAFF["corner-cafe"]
    body = {"code": "MINE", "order_total": "20.00", "customer_email": "cara@example.com"}
    answers = stack.together(BURST, lambda s, i: stack.api(staff, "POST", "/coupons/redeem", json=body, session=s))
    assert outcomes(answers) == {(200, None): 1, (422, "already_redeemed"): 49}
    assert uses(stack, coupon) == (1, 1)


def test_a_credit_code_of_three_uses_pays_three_of_fifty_customers(stack):
    """50 customers redeem a 3-use credit code at once through the API: 3 wallets get 2.00."""
    credit = campaign(stack, kind="credit", currency="USD", value="2.00", max_uses="3", code_mode="vanity", code="THREE")
    racers = customers(stack, BURST)
    for email in racers:
        stack.token(email)
    answers = stack.together(BURST, lambda s, i: stack.api(racers[i], "POST", "/me/redeem", json={"code": "THREE"}, session=s))
    assert outcomes(answers) == {(200, None): 3, (422, "usage_limit_reached"): 47}
    assert uses(stack, credit) == (3, 3)
    with stack.app.app_context():
        paid = db.session.scalar(sa.select(sa.func.sum(Account.balance)).where(Account.kind == "wallet"))
    assert paid == 600
    assert stack.verify() == []


def test_a_claim_code_raced_by_fifty_friends_goes_to_one(stack):
    """Cara gives a card by claim code; 50 customers claim it at once: one owns it, 49 are told it is taken."""
    card_id, _ = stack.card("30.00", owner="cara@example.com")
    given = stack.api("cara@example.com", "POST", f"/me/cards/{card_id}/transfer", json={})
    assert given.status_code == 201, given.text
    claim = given.json()["claim_code"]
    racers = customers(stack, BURST)
    for email in racers:
        stack.token(email)
    answers = stack.together(
        BURST, lambda s, i: stack.api(racers[i], "POST", "/transfers/claim", json={"claim_code": claim}, session=s)
    )
    assert outcomes(answers) == {(200, None): 1, (422, "already_redeemed"): 49}
    with stack.app.app_context():
        owner = db.session.get(GiftCard, card_id).owner.email
        assert [t.status for t in db.session.scalars(sa.select(Transfer))] == ["claimed"]
    winner = next(racers[i] for i, a in enumerate(answers) if a.status_code == 200)
    assert owner == winner
    assert stack.balance(card_id) == 3000


def test_a_printed_card_raced_by_fifty_customers_goes_to_one_under_one_new_code(stack):
    """50 customers type the same printed code into "Redeem a code" at once: one holds the card,
    under one new code mailed to them; everyone else, and the printed code, finds no card."""
    card_id, printed = stack.card("30.00")
    racers = customers(stack, BURST)
    for email in racers:
        stack.token(email)
    answers = stack.together(
        BURST, lambda s, i: stack.api(racers[i], "POST", "/me/redeem", json={"code": printed}, session=s)
    )
    counted = outcomes(answers)
    assert counted[(200, None)] == 1
    # The rest found no card by the printed code (or, past the guessing limit, were not let look).
    assert counted[(404, "not_found")] + counted[(429, "rate_limited")] == BURST - 1, counted
    winner = next(racers[i] for i, a in enumerate(answers) if a.status_code == 200)
    with stack.app.app_context():
        card = db.session.get(GiftCard, card_id)
        assert card.owner.email == winner
        assert services().vault.decrypt(card.code.ciphertext) != printed
        mailed = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "card_now_yours")).all()
        assert [m.recipient for m in mailed] == [winner]
        assert services().vault.decrypt(mailed[0].code_ciphertext) == services().vault.decrypt(card.code.ciphertext)
        # (Asked in the domain: the burst's failures have locked this address out of look-ups.)
        with pytest.raises(NotFound):
            find_card(db.session, printed, services().vault, services().qr)
    assert stack.balance(card_id) == 3000


def test_loops_for_one_card_converted_fifty_times_at_once_make_one_card(stack):
    """1,000 Loops (one 10.00 card at Bronze), converted by 50 requests at once: one card, 49 refusals."""
    with stack.app.app_context():
        cara = db.session.scalar(sa.select(User).where(User.email == "cara@example.com"))
        cafe = db.session.scalar(sa.select(Merchant).where(Merchant.slug == "corner-cafe"))
        earn(db.session, cara, Money.parse("100.00", "USD"), cafe, actor=Actor(merchant_id=cafe.id), idempotency_key="till")
        db.session.commit()
        loops = db.session.scalar(sa.select(Account.balance).where(Account.kind == "loops"))
    assert loops == 1000
    body = {"amount": "10.00", "currency": "USD"}
    answers = stack.together(BURST, lambda s, i: stack.api(CUSTOMERS[0], "POST", "/me/points/convert", json=body, session=s))
    assert outcomes(answers) == {(201, None): 1, (422, "insufficient_funds"): 49}
    assert stack.count(GiftCard, GiftCard.kind == "promotional") == 1
    with stack.app.app_context():
        assert db.session.scalar(sa.select(Account.balance).where(Account.kind == "loops")) == 0
    assert stack.verify() == []

