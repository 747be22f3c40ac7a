"""Redeeming a code: a bearer card joins the wallet; every refusal has a reason and changes nothing."""

from __future__ import annotations

import re

from portal.cards.codes import generate_card_code
from tests.conftest import submit
from tests.factories import add_customer, issue, unusable_cards
from tests.pages import HTMX, text
from tests.reads import owner_of, refused, snapshot, user_id


def _redeem(client, code, **kwargs):
    return submit(client, "/wallet/redeem", {"code": code}, **kwargs)


def test_a_bearer_card_code_in_any_spelling_joins_the_wallet(app, client, cara):
    """Does a printed card's code, typed in lower case with spaces, become the customer's card?"""
    card_id, code = issue(app, amount="15.00")
    sloppy = code.lower().replace("-", " ")
    response = _redeem(client, sloppy)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/wallet/cards/{card_id}")
    assert owner_of(app, card_id) == user_id(app, cara)
    words = text(client.get(response.headers["Location"]))
    assert "The gift card is now in your wallet." in words and "15.00 USD" in words


def test_an_htmx_redeem_goes_to_the_card_page(app, client, cara):
    """Does the htmx form answer with HX-Redirect to the new card?"""
    card_id, code = issue(app)
    response = _redeem(client, code, headers=HTMX)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/wallet/cards/{card_id}"


def test_a_card_that_belongs_to_someone_else_is_refused(app, client, cara):
    """Is another customer's card refused with "This card already belongs to someone", owner unchanged?"""
    add_customer(app, "other@example.com")
    card_id, code = issue(app, owner="other@example.com")
    refused(app, lambda: _redeem(client, code, headers=HTMX), "This card already belongs to someone")


def test_a_card_already_in_the_wallet_says_so(app, client, cara):
    """Does redeeming one's own card say it is already there?"""
    _, code = issue(app, owner=cara)
    response = _redeem(client, code)
    assert response.status_code == 422
    assert "This card is already in your wallet" in text(response)


def test_expired_frozen_and_used_up_cards_are_refused_with_their_reason(app, client, cara):
    """Are an expired, a frozen and a spent bearer card each refused plainly, none claimed?"""
    old_code, cold_code, spent_code = unusable_cards(app)
    before = snapshot(app)
    assert re.search(r"This card expired on \d{1,2} \w+ \d{4}", text(_redeem(client, old_code)))
    assert "This card is frozen" in text(_redeem(client, cold_code))
    used = _redeem(client, spent_code)
    assert used.status_code == 422 and "This card has already been used up" in text(used)
    assert snapshot(app) == before


def test_a_typo_is_caught_by_the_check_character(app, client, cara):
    """Does a code with one wrong character say it has a typo (and not count as a guess)?"""
    _, code = issue(app)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    response = _redeem(client, wrong)
    assert response.status_code == 422
    assert "That code has a typo" in text(response)


def test_an_unknown_code_is_not_recognised(app, client, cara):
    """Does a code that is neither a card nor a claim code say "We don't recognise that code"?"""
    refused(app, lambda: _redeem(client, "SUMMER-2026"), "We don't recognise that code")


def test_guessing_card_codes_locks_the_customer_out(app, client, cara):
    """After ten codes that don't exist, is even a real code refused with 429 and Retry-After?"""
    card_id, real = issue(app)
    for _ in range(10):
        assert _redeem(client, generate_card_code()).status_code == 422
    locked = _redeem(client, real)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "Too many codes that didn't work" in text(locked)
    assert owner_of(app, card_id) is None


def _campaign(app, **raw):
    from portal.campaigns.definitions import create_campaign, read_spec
    from portal.extensions import db
    from portal.ledger import Actor
    from portal.services import services

    with app.app_context():
        create_campaign(db.session, services().vault, read_spec(db.session, {"name": "Promo", **raw}), actor=Actor())
        db.session.commit()


def test_a_credit_code_fills_the_wallet_and_a_second_use_is_refused(app, client, cara):
    """Does FREE5 add 5.00 USD to the wallet, and a once-per-customer code refuse a second go plainly?"""
    _campaign(app, kind="credit", currency="USD", value="5.00", code_mode="vanity", code="FREE5", uses_per_user="1")
    response = _redeem(client, "free 5")
    assert response.status_code == 303 and response.headers["Location"] == "/wallet/"
    words = text(client.get("/wallet/"))
    assert "5.00 USD was added to your wallet." in words
    assert "5.00 USD" in words[words.index("Wallet credit"):words.index("Loops")]
    refused(app, lambda: _redeem(client, "FREE5"), "You have already used this code")


def test_a_feature_code_says_until_when_it_is_unlocked(app, client, cara):
    """Does PLUS30 unlock Plus and say the date it ends?"""
    _campaign(app, kind="feature", feature="plus", feature_days="30", code_mode="vanity", code="PLUS30")
    response = _redeem(client, "PLUS30")
    assert response.status_code == 303
    assert re.search(r"Plus is unlocked until \d{1,2} \w+ \d{4}\.", text(client.get("/wallet/")))


def test_the_redeem_page_works_by_label(app, client, cara):
    """Does the redeem page have one labelled field and a button?"""
    html = client.get("/wallet/redeem").get_data(as_text=True)
    assert '<label for="code">Code</label>' in html
    assert "Redeem</button>" in html
