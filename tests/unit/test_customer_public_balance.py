"""Checking a balance by code without an account: one answer for every card it can't show, and a limit."""

from __future__ import annotations

import re

import pytest

from portal.cards.codes import generate_card_code
from tests.conftest import submit
from tests.factories import issue, pay_at_till, unusable_cards
from tests.pages import HTMX, text
from tests.reads import snapshot

NO_BALANCE = "We can't show a balance for that code"


def _check(client, code, **kwargs):
    return submit(client, "/balance", {"code": code}, **kwargs)


def test_a_valid_card_shows_its_balance_and_expiry(app, client, people):
    """Does a visitor with a good code see the balance and the date it is valid until, uncached?"""
    card_id, code = issue(app, amount="25.00")
    pay_at_till(app, card_id, "5.00")
    response = _check(client, code.lower())
    assert response.status_code == 200
    words = text(response)
    assert "20.00 USD" in words
    assert re.search(r"Valid until \d{1,2} \w+ \d{4}", words)
    assert response.headers["Cache-Control"] == "no-store"


def test_an_htmx_check_answers_with_the_fragment(app, client, people):
    """Does the htmx form get only its fragment back?"""
    _, code = issue(app, amount="25.00")
    response = _check(client, code, headers=HTMX)
    assert "<html" not in response.get_data(as_text=True)
    assert "25.00 USD" in text(response)


def test_unknown_expired_frozen_and_empty_cards_get_the_same_answer(app, client, people):
    """Can a visitor tell a card that doesn't exist from an expired, frozen or empty one? (No.)"""
    old_code, cold_code, spent_code = unusable_cards(app)
    before = snapshot(app)
    answers = set()
    for code in (generate_card_code(), old_code, cold_code, spent_code):
        response = _check(client, code, headers=HTMX)
        assert response.status_code == 422
        html = response.get_data(as_text=True).replace(code, "CODE")
        answers.add(re.sub(r'name="csrf_token" value="[^"]+"', "", html))  # the token is signed with the time
        assert NO_BALANCE in text(response)
    assert len(answers) == 1
    assert snapshot(app) == before


def test_a_typo_is_pointed_out(app, client, people):
    """Does a mistyped code say so (the check character tells without a look-up)?"""
    _, code = issue(app)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert "That code has a typo" in text(_check(client, wrong))


def test_too_many_failed_checks_lock_the_visitor_out(app, client, people):
    """After its address's budget of codes it can't show, is even a good code refused with 429 and
    Retry-After? (Without an account, the address is all there is to count by.)"""
    _, good = issue(app, amount="25.00")
    for _ in range(app.config["GUESS_IP_LIMIT"]):
        assert _check(client, generate_card_code()).status_code == 422
    locked = _check(client, good)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "25.00 USD" not in text(locked)


@pytest.mark.parametrize("path", ["/balance", "/claim", "/claim/GL-ABCD-EFGH-JKMN"])
def test_public_pages_need_no_account(app, client, path):
    """Do the balance check and the claim page open without signing in?"""
    assert client.get(path).status_code == 200
