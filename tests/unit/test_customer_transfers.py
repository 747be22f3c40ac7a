"""Giving a card to a friend: a claim code shown once, the card held meanwhile, claimed or taken back."""

from __future__ import annotations

import re

import pytest

from tests.conftest import AuthActions, sign_up, submit
from tests.factories import add_customer, issue, pay_at_till
from tests.pages import HTMX, text
from tests.reads import owner_of, refused, user_id

CLAIM = re.compile(r"GL-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")


@pytest.fixture
def friend(app):
    """A second customer, in a browser of their own."""
    add_customer(app, "friend@example.com", name="Fred")
    client = app.test_client()
    AuthActions(client).login("friend@example.com")
    return client


def _give(client, card_id, to_email="", **kwargs):
    return submit(client, f"/wallet/cards/{card_id}/transfer", {"to_email": to_email}, page=f"/wallet/cards/{card_id}", **kwargs)


def _given(client, card_id) -> tuple[str, str]:
    """Give the card without an address: the claim code shown, and the address of "Take the card back"."""
    given = _give(client, card_id)
    cancel_url = re.search(r'action="(/wallet/transfers/\d+/cancel)"', given.get_data(as_text=True)).group(1)
    return CLAIM.search(text(given)).group(0), cancel_url


def test_giving_shows_the_claim_code_once_and_holds_the_card(app, client, cara):
    """Does giving show a claim code and link (uncached), and then the card shows it is held, without the QR code?"""
    card_id, _ = issue(app, owner=cara, amount="20.00")
    response = _give(client, card_id, headers=HTMX)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    claim = CLAIM.search(text(response)).group(0)
    assert f"/claim/{claim}" in response.get_data(as_text=True)
    assert "shown only this once" in text(response)

    page = client.get(f"/wallet/cards/{card_id}")
    words = text(page)
    assert claim not in words
    assert "Waiting for your friend to claim it" in words
    assert "Take the card back" in words
    assert "<svg" not in page.get_data(as_text=True)
    assert "Waiting for a friend" in text(client.get("/wallet/"))


def test_a_friend_claims_by_code_and_the_card_leaves_the_givers_wallet(app, client, cara, friend):
    """Does the friend's redeem of the claim code move the card, and does the giver's page say so?"""
    card_id, _ = issue(app, owner=cara, amount="20.00")
    claim = CLAIM.search(text(_give(client, card_id))).group(0)
    response = submit(friend, "/wallet/redeem", {"code": claim.lower()})
    assert response.status_code == 303
    assert "Your friend's gift card is now in your wallet." in text(friend.get(response.headers["Location"]))
    assert owner_of(app, card_id) == user_id(app, "friend@example.com")
    assert f"/wallet/cards/{card_id}" not in client.get("/wallet/").get_data(as_text=True)
    assert client.get(f"/wallet/cards/{card_id}").status_code == 404
    gone = client.get(f"/wallet/cards/{card_id}/balance", headers=HTMX)
    assert gone.status_code == 286  # htmx swaps this in and stops polling
    assert "Your friend claimed this card" in text(gone)


def test_a_card_sent_by_email_can_only_be_claimed_by_that_address(app, client, cara, friend):
    """Is a card sent to friend@example.com refused to anyone else, with nothing changed?"""
    card_id, _ = issue(app, owner=cara)
    claim = CLAIM.search(text(_give(client, card_id, to_email="Friend@Example.com"))).group(0)
    assert "friend@example.com (only they can claim it)" in text(client.get(f"/wallet/cards/{card_id}"))
    add_customer(app, "stranger@example.com")
    stranger = app.test_client()
    AuthActions(stranger).login("stranger@example.com")
    refused(
        app, lambda: submit(stranger, "/wallet/redeem", {"code": claim}), "This card was sent to a different e-mail address"
    )
    assert submit(friend, "/wallet/redeem", {"code": claim}).status_code == 303


def test_taking_the_card_back_ends_the_claim_code(app, client, cara, friend):
    """After "Take the card back", does the claim code stop working and the QR code return?"""
    card_id, _ = issue(app, owner=cara)
    claim, cancel_url = _given(client, card_id)
    response = submit(client, cancel_url, {}, page=f"/wallet/cards/{card_id}", headers=HTMX)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/wallet/cards/{card_id}"
    page = client.get(f"/wallet/cards/{card_id}")
    assert "The card is back with you" in text(page)
    assert "<svg" in page.get_data(as_text=True)
    refused(app, lambda: submit(friend, "/wallet/redeem", {"code": claim}), "The sender cancelled this transfer")


def test_taking_back_a_card_already_claimed_says_so(app, client, cara, friend):
    """If the friend claimed first, does "Take the card back" say so and change nothing?"""
    card_id, _ = issue(app, owner=cara)
    claim, cancel_url = _given(client, card_id)
    submit(friend, "/wallet/redeem", {"code": claim})
    refused(app, lambda: submit(client, cancel_url, {}, page="/wallet/"), "Your friend has already claimed this card")


def test_only_the_giver_can_take_a_card_back(app, client, cara, friend):
    """Is another customer's transfer as missing as one that doesn't exist?"""
    card_id, _ = issue(app, owner=cara)
    _, cancel_url = _given(client, card_id)
    assert submit(friend, cancel_url, {}, page="/wallet/").status_code == 404
    assert submit(friend, "/wallet/transfers/9999/cancel", {}, page="/wallet/").status_code == 404


def test_a_held_card_cannot_be_given_twice_or_to_oneself(app, client, cara):
    """Are a second gift of a held card and a gift to one's own address refused plainly?"""
    card_id, _ = issue(app, owner=cara)
    own = _give(client, card_id, to_email=cara)
    assert own.status_code == 422 and "That is your own address" in text(own)
    _give(client, card_id)
    refused(app, lambda: _give(client, card_id), "already waiting to be claimed")


def test_an_empty_card_cannot_be_given(app, client, cara):
    """Does a spent card say there is nothing to give?"""
    card_id, _ = issue(app, owner=cara, amount="5.00")
    pay_at_till(app, card_id, "5.00")
    assert "Only an active card with money on it can be given" in text(client.get(f"/wallet/cards/{card_id}"))
    response = _give(client, card_id)
    assert response.status_code == 422
    assert "There is nothing left on this card to give" in text(response)


def test_the_claim_link_asks_a_visitor_to_sign_in_or_sign_up_and_comes_back(app):
    """Does an anonymous visitor get sign-in and sign-up links that return to the claim page?"""
    visitor = app.test_client()
    response = visitor.get("/claim/GL-ABCD-EFGH-JKMN")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'href="/signup?next=/claim/GL-ABCD-EFGH-JKMN"' in html
    assert 'href="/signin?next=/claim/GL-ABCD-EFGH-JKMN"' in html


def test_a_friend_signs_up_from_the_claim_link_and_claims_the_card(app, client, cara):
    """From the link, does sign-up return to the claim page, whose button puts the card in the new wallet?"""
    card_id, _ = issue(app, owner=cara, amount="20.00")
    claim = CLAIM.search(text(_give(client, card_id, to_email="newbie@example.com"))).group(0)
    newbie = app.test_client()
    signup = sign_up(
        newbie, app,
        {"name": "Nia", "email": "newbie@example.com", "password": "a long passphrase", "confirm": "a long passphrase"},
        next_path=f"/claim/{claim}",
    )
    assert signup.headers["Location"] == f"/claim/{claim}"
    claim_page = newbie.get(f"/claim/{claim}")
    assert f'value="{claim}"' in claim_page.get_data(as_text=True)
    response = submit(newbie, "/wallet/redeem", {"code": claim}, page=f"/claim/{claim}")
    assert response.status_code == 303
    assert owner_of(app, card_id) == user_id(app, "newbie@example.com")
