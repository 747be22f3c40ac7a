"""A card that changes hands gets a new code (issue 20 §1): the giver's or seller's copy of the old
code, and every QR token minted for it, stop working everywhere at once; the new holder is mailed
the new code, the old holder is told without one; balance and history stay with the card."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.cards.codes import generate_card_code
from portal.cards.lookup import find_card
from portal.cards.operations import issue_card, redeem
from portal.claims import claim_bearer_card
from portal.errors import AlreadyRedeemed, NotFound
from portal.extensions import db
from portal.ledger import SYSTEM, Actor, verify
from portal.models import AuditEvent, GiftCard, OutboxMessage, Transaction
from portal.money import Money
from portal.notifications.rendering import render
from portal.services import services
from tests.api import state
from tests.conftest import AuthActions, submit
from tests.factories import add_customer, issue, user
from tests.pages import text
from tests.reads import snapshot, user_id

NO_BALANCE = "We can't show a balance for that code"
FULL_CODE = re.compile(r"GC-[0-9A-Z]{4}(?:-[0-9A-Z]{4}){3}-[0-9A-Z]")


def current_code(app, card_id: int) -> str:
    with app.app_context():
        return services().vault.decrypt(db.session.get(GiftCard, card_id).code.ciphertext)


def give_and_claim(capi, card_id: int) -> None:
    """Cara gives the card by claim code; her friend claims it, both over the API."""
    claim = capi.post(f"/me/cards/{card_id}/transfer", {}, role="customer").json["claim_code"]
    claimed = capi.post("/transfers/claim", {"claim_code": claim}, role="friend")
    assert claimed.status_code == 200, claimed.json


def mail(app, kind: str) -> tuple[OutboxMessage, str | None, str]:
    """The one outbox row of a kind, the code it carries (decrypted) and its text and HTML as sent."""
    with app.app_context():
        (row,) = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind)).all()
        carried = services().vault.decrypt(row.code_ciphertext) if row.code_ciphertext else None
        rendered = render(db.session, row)
        db.session.expunge(row)
        return row, carried, rendered.text + rendered.html


# --- Transfer claim -------------------------------------------------------------------------


def test_after_a_friend_claims_the_givers_old_code_is_refused_at_the_till_and_moves_nothing(app, capi):
    """Cara revealed the code, gave the card, her friend claimed it: does a till refuse Cara's
    old code as unknown, look-up and redemption alike, with every balance unchanged, while the
    friend's new code pays?"""
    card_id, old = issue(app, owner="customer@example.com", amount="40.00")
    give_and_claim(capi, card_id)
    before = state(app)

    looked_up = capi.lookup(old)
    assert looked_up.status_code == 404 and looked_up.json["detail"] == "No gift card has that code"
    paid = capi.redeem(old, {"amount": "40.00"})
    assert paid.status_code == 404 and paid.json["detail"] == "No gift card has that code"
    assert state(app) == before

    new = current_code(app, card_id)
    assert new != old
    assert capi.lookup(new).json["balance"] == "40.00"
    assert capi.redeem(new, {"amount": "10.00"}).status_code == 200
    assert capi.lookup(new).json["balance"] == "30.00"


def test_a_qr_token_minted_before_the_claim_stops_working(app, capi):
    """A screenshot of Cara's QR code from just before the claim: is it stale at the till, while
    the friend's fresh token works?"""
    card_id, _ = issue(app, owner="customer@example.com", amount="40.00")
    with app.app_context():
        before_claim = services().qr.issue(db.session.get(GiftCard, card_id).code_id)
    assert capi.lookup(before_claim).json["id"] == card_id
    give_and_claim(capi, card_id)

    stale = capi.lookup(before_claim)
    assert stale.status_code == 404 and "no longer valid" in stale.json["detail"]
    assert capi.redeem(before_claim, {"amount": "1.00"}).status_code == 404
    with app.app_context():
        fresh = services().qr.issue(db.session.get(GiftCard, card_id).code_id)
    assert capi.lookup(fresh).json["id"] == card_id


def test_the_card_keeps_its_balance_and_history_and_the_audit_says_who_held_it(app, capi):
    """Same card, same account, same ledger; one audit record of the change of hands with the
    masked old and new codes; and the ledger still verifies."""
    card_id, old = issue(app, owner="customer@example.com", amount="40.00")
    before = capi.get(f"/cards/{capi.card_id(old)}/transactions").json
    give_and_claim(capi, card_id)
    new = current_code(app, card_id)
    after = capi.get(f"/cards/{capi.card_id(new)}/transactions").json
    assert after["transactions"] == before["transactions"] and after["card"]["id"] == before["card"]["id"] == card_id
    assert after["card"]["balance"] == "40.00" and after["card"]["code_masked"].endswith(new[-6:])
    with app.app_context():
        (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "card.transferred")).all()
        assert event.target == f"card:{card_id}"
        assert event.detail["from_user_id"] == user_id(app, "customer@example.com")
        assert event.detail["to_user_id"] == user_id(app, "friend@example.com")
        assert event.detail["old_code"].endswith(old[-6:]) and event.detail["new_code"].endswith(new[-6:])
        assert old not in str(event.detail) and new not in str(event.detail)
        assert verify(db.session) == []


# --- Bearer claim ---------------------------------------------------------------------------


@pytest.fixture
def cara(client, auth, people):
    auth.login(people["customer"])
    return client


@pytest.mark.parametrize("channel", ["page", "api"])
def test_a_bearer_card_claimed_into_a_wallet_gets_a_new_code(app, capi, cara, channel):
    """Everyone who saw the printed code: after "Redeem a code" (page or API), is it unknown at
    the till and unchanged by the attempt, while the holder's new code works?"""
    card_id, printed = issue(app, amount="40.00")
    if channel == "page":
        response = submit(cara, "/wallet/redeem", {"code": printed})
        assert response.status_code == 303
        assert "It has a new code now: the old one no longer works." in text(cara.get(response.headers["Location"]))
    else:
        response = capi.post("/me/redeem", {"code": printed}, role="customer")
        assert response.status_code == 200 and "It has a new code now" in response.json["message"]
    before = state(app)
    paid = capi.redeem(printed, {"amount": "5.00"})
    assert paid.status_code == 404 and paid.json["detail"] == "No gift card has that code"
    assert state(app) == before
    new = current_code(app, card_id)
    assert new != printed
    assert capi.redeem(new, {"amount": "5.00"}).json["card"]["balance"] == "35.00"


def test_the_old_code_cannot_claim_the_card_again(app, cara):
    """Someone else who kept the printed code tries "Redeem a code" too: unknown code, nothing moves."""
    card_id, printed = issue(app, amount="40.00")
    assert submit(cara, "/wallet/redeem", {"code": printed}).status_code == 303
    other = app.test_client()
    add_customer(app, "other@example.com")
    AuthActions(other).login("other@example.com")
    before = snapshot(app)
    refused = submit(other, "/wallet/redeem", {"code": printed})
    unknown = submit(other, "/wallet/redeem", {"code": generate_card_code()})
    assert refused.status_code == unknown.status_code == 422
    assert "No gift card has that code" in text(refused) and "No gift card has that code" in text(unknown)
    assert snapshot(app) == before
    with app.app_context():
        assert db.session.get(GiftCard, card_id).owner_id == user_id(app, "customer@example.com")


def test_the_public_balance_check_answers_the_old_code_as_unknown(app, cara):
    """Does the balance page give the old code exactly the answer an unknown code gets, and the
    new code its balance?"""
    card_id, printed = issue(app, amount="40.00")
    submit(cara, "/wallet/redeem", {"code": printed})
    visitor = app.test_client()
    answer = submit(visitor, "/balance", {"code": printed})
    assert answer.status_code == 422 and NO_BALANCE in text(answer)
    assert "40.00" not in text(answer)
    assert "40.00 USD" in text(submit(visitor, "/balance", {"code": current_code(app, card_id)}))


# --- E-mails --------------------------------------------------------------------------------


def test_the_new_holder_is_mailed_the_new_code_and_the_giver_is_told_without_any_code(app, capi):
    card_id, old = issue(app, owner="customer@example.com", amount="40.00")
    give_and_claim(capi, card_id)
    new = current_code(app, card_id)

    row, carried, words = mail(app, "card_now_yours")
    assert row.recipient == "friend@example.com" and carried == new
    assert new in words and old not in words
    assert "the code it had before no longer works" in words

    row, carried, words = mail(app, "card_handed_over")
    assert row.recipient == "customer@example.com" and carried is None and row.card_id is None
    assert "was claimed" in words
    assert FULL_CODE.search(words) is None  # neither the old code nor the friend's new one
    assert new[-6:] not in words  # not even the new code's masked tail
    assert old[-6:] in words  # the giver recognises the card by its old masked code


def test_a_bearer_card_claimed_is_mailed_with_its_new_code_and_nobody_else_is_told(app, cara):
    card_id, printed = issue(app, amount="40.00")
    submit(cara, "/wallet/redeem", {"code": printed})
    row, carried, words = mail(app, "card_now_yours")
    assert row.recipient == "customer@example.com" and carried == current_code(app, card_id) != printed
    assert carried in words and printed not in words
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(OutboxMessage.kind == "card_handed_over")) == 0


# --- The domain: a replayed issue, and a till that found the card just before the claim ------


def test_replaying_the_request_that_issued_a_card_does_not_show_its_new_code(app, people):
    """The seller sends the issuing request again after the buyer claimed the card: refused, no code."""
    with app.app_context():
        first = issue_card(
            db.session, services().vault, amount=Money.parse("40.00", "USD"), actor=SYSTEM, idempotency_key="sale-1",
        )
        claim_bearer_card(db.session, services().vault, first.card, user(people["customer"]))
        db.session.commit()
        with pytest.raises(AlreadyRedeemed):
            issue_card(
                db.session, services().vault, amount=Money.parse("40.00", "USD"), actor=SYSTEM, idempotency_key="sale-1",
            )


def test_a_till_that_found_the_card_by_its_old_code_just_before_the_claim_cannot_pay_with_it(app, people):
    """The till looked the card up by the printed code; the buyer claimed it before the till's
    redemption took the card's lock: the redemption finds the card re-keyed and moves nothing."""
    card_id, printed = issue(app, amount="40.00")
    with app.app_context():
        found = find_card(db.session, printed, services().vault, services().qr)
        with app.app_context():  # the buyer's request, committed meanwhile
            claim_bearer_card(db.session, services().vault, db.session.get(GiftCard, card_id), user(people["customer"]))
            db.session.commit()
        with pytest.raises(NotFound, match="No gift card has that code"):
            redeem(
                db.session, found, Money.parse("40.00", "USD"), actor=Actor(), idempotency_key="till-1", merchant=None,
            )
        db.session.rollback()
        assert db.session.get(GiftCard, card_id).account.balance == 4000
        assert db.session.scalar(sa.select(sa.func.count()).where(Transaction.kind == "redeem")) == 0


# --- Cards that changed hands before this: re-keyed once from the command line ------------------


def test_cards_handed_over_before_re_keying_get_a_new_code_once_from_the_command_line(app, capi, runner):
    """A card a friend claimed before claims re-keyed (the giver still knows its code): does
    ``portal cards rekey-handed-over`` kill the old code, mail the holder the new one, leave cards
    re-keyed already alone, and find nothing to do the second time?"""
    old_style, known = issue(app, owner="customer@example.com", amount="40.00")
    cancelled, cancelled_code = issue(app, owner="customer@example.com", amount="5.00")
    with app.app_context():  # what a claim recorded before: the owner changed, the code did not
        for card_id in (old_style, cancelled):
            card = db.session.get(GiftCard, card_id)
            card.owner_id = user_id(app, "friend@example.com")
            db.session.add(AuditEvent(action="card.transferred", target=f"card:{card_id}", detail={"transfer_id": 1}))
        card.status = "cancelled"  # a cancelled card never pays again: nothing to re-key
        db.session.commit()
    claimed_now, _ = issue(app, owner="customer@example.com", amount="10.00")
    give_and_claim(capi, claimed_now)
    already = current_code(app, claimed_now)

    result = runner.invoke(args=["cards", "rekey-handed-over"])
    assert result.exit_code == 0, result.output
    assert "Gave 1 card(s) a new code." in result.output
    assert current_code(app, claimed_now) == already and current_code(app, cancelled) == cancelled_code
    assert capi.redeem(known, {"amount": "40.00"}).status_code == 404
    new = current_code(app, old_style)
    assert new != known and capi.lookup(new).json["balance"] == "40.00"
    row, carried, words = mail(app, "card_rekeyed")
    assert row.recipient == "friend@example.com" and carried == new and new in words and known not in words
    with app.app_context():
        (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "card.rekeyed")).all()
        assert event.detail["old_code"].endswith(known[-6:]) and event.detail["new_code"].endswith(new[-6:])

    again = runner.invoke(args=["cards", "rekey-handed-over"])
    assert "Gave 0 card(s) a new code." in again.output and current_code(app, old_style) == new
