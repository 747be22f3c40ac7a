"""Taking gift cards at the till: look-up, apply, split tender, Loops and undo within a sale."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.cards.codes import generate_card_code
from portal.extensions import db
from portal.models import GiftCard, User
from tests.conftest import AuthActions
from tests.factories import add_merchant, make_card
from tests.pages import Till, forms_of, text
from tests.reads import balance, count


def test_a_looked_up_card_shows_its_balance_expiry_status_and_that_it_is_valid_here(app, till):
    """Does the look-up fragment show the masked code, balance, expiry, status and validity?"""
    code = make_card(app, "10.00")
    till.open()
    response = till.look_up(code, total="7.00")
    assert response.status_code == 200
    words = text(till.html)
    assert code not in till.html
    assert "GC-••••-••••-••••-" + code[-6:] in words
    assert "Balance 10.00 USD" in words
    assert "Status Active" in words
    assert "Valid here Yes" in words
    assert re.search(r"Expires \d+ \w+ \d{4}", words)
    assert till.form("/till/apply").fields["amount"] == "7.00"


def test_an_htmx_request_gets_the_sale_fragment_and_a_plain_one_the_page(app, staff):
    """Does the same URL answer the fragment to htmx and the whole page otherwise, with Vary set?"""
    code = make_card(app, "10.00")
    htmx, plain = Till(staff), Till(staff, htmx=False)
    for till in (htmx, plain):
        till.open()
        till.look_up(code, total="7.00")
        assert "HX-Request" in till.response.headers["Vary"]
    assert "<html" not in htmx.html and htmx.html.lstrip().startswith("<section id=\"sale\"")
    assert "<html" in plain.html and "Balance" in plain.html


def test_a_card_pays_the_total_and_the_receipt_shows_what_is_left(app, till):
    """Does a 10.00 card pay a 7.00 purchase, leaving 3.00 on it and nothing to pay?"""
    code = make_card(app, "10.00")
    till.open()
    till.look_up(code, total="7.00")
    response = till.apply()
    assert response.status_code == 200
    words = text(till.html)
    assert "Applied 7.00 USD" in words
    assert "Left on card 3.00 USD" in words
    assert "Still to pay 0.00 USD" in words
    assert "Paid in full" in words
    assert balance(app, code) == "3.00"


def test_the_amount_can_be_lowered_to_take_part(app, till):
    """Can staff take less than the default, leaving the rest to pay by other means?"""
    code = make_card(app, "10.00")
    till.open()
    till.look_up(code, total="7.00")
    till.apply("2.50")
    words = text(till.html)
    assert "Applied 2.50 USD" in words and "Still to pay 4.50 USD" in words
    assert balance(app, code) == "7.50"


def test_a_second_card_pays_what_the_first_could_not(app, till):
    """Split tender: does a second card default to what is still due and finish the sale?"""
    first, second = make_card(app, "10.00"), make_card(app, "20.00")
    till.open()
    till.look_up(first, total="15.00")
    assert till.form("/till/apply").fields["amount"] == "10.00"
    till.apply()
    assert "Still to pay 5.00 USD" in text(till.html)
    till.look_up(second)
    assert till.form("/till/apply").fields["amount"] == "5.00"
    till.apply()
    words = text(till.html)
    assert "Still to pay 0.00 USD" in words and "Paid in full" in words
    assert (balance(app, first), balance(app, second)) == ("0.00", "15.00")
    assert words.count("GC-••••") >= 2  # both cards listed for the sale


def test_the_same_apply_form_sent_twice_charges_once(app, till):
    """A double click, a reload or a retry sends the same key: is the card charged once?"""
    code = make_card(app, "10.00")
    till.open()
    till.look_up(code, total="7.00")
    form = till.form("/till/apply")
    first = till.client.post("/till/apply", data=form.fields, headers={"HX-Request": "true"})
    again = till.client.post("/till/apply", data=form.fields)  # the reload, without htmx
    assert first.status_code == again.status_code == 200
    assert "Applied 7.00 USD" in text(again.get_data(as_text=True))
    assert count(app, "redeem") == 1
    assert balance(app, code) == "3.00"


def test_a_form_reused_for_another_amount_charges_nothing_more(app, till):
    """If a used form is sent again with another amount, is it refused rather than charged again?"""
    code = make_card(app, "10.00")
    till.open()
    till.look_up(code, total="9.00")
    form = till.form("/till/apply")
    till.client.post("/till/apply", data={**form.fields, "amount": "2.00"})
    response = till.client.post("/till/apply", data={**form.fields, "amount": "3.00"})
    assert response.status_code == 422
    assert "This payment was already made" in text(response.get_data(as_text=True))
    assert count(app, "redeem") == 1 and balance(app, code) == "8.00"


@pytest.mark.parametrize(
    ("total", "amount", "message"),
    [
        ("20.00", "12.00", "This card holds 10.00 USD; 12.00 USD is more than that"),
        ("4.00", "5.00", "That is more than the 4.00 USD still to pay"),
    ],
    ids=["more-than-the-card-holds", "more-than-is-still-to-pay"],
)
def test_more_than_the_card_holds_or_is_left_to_pay_is_refused(app, till, total, amount, message):
    """Does an edited amount above the balance, or beyond the purchase total, get a clear message,
    422 and no charge?"""
    code = make_card(app, "10.00")
    till.open()
    till.look_up(code, total=total)
    response = till.apply(amount)
    assert response.status_code == 422
    assert message in text(till.html)
    assert count(app, "redeem") == 0 and balance(app, code) == "10.00"


def test_a_malformed_amount_is_refused_by_the_field(app, till):
    """Does "1,50" get the money parser's message next to the amount field?"""
    code = make_card(app, "10.00")
    till.open()
    till.look_up(code, total="4.00")
    response = till.apply("1,50")
    assert response.status_code == 422
    assert 'id="amount-error"' in till.html and "Please use a dot for decimals" in text(till.html)
    assert count(app, "redeem") == 0


def test_cards_that_cannot_pay_here_say_why_and_offer_no_apply(app, till):
    """Frozen, expired and another store's cards: does each show its reason and no Apply button?"""
    add_merchant(app, "book-nook", "Book Nook")
    cases = {
        make_card(app, "10.00", status="frozen"): "This card is frozen",
        make_card(app, "10.00", expired=True): "This card expired on",
        make_card(app, "10.00", merchant="book-nook"): "This card can only be used at Book Nook",
    }
    for code, reason in cases.items():
        till.open()
        response = till.look_up(code, total="5.00")
        assert response.status_code == 200
        words = text(till.html)
        assert reason in words and "Valid here No" in words
        assert not [f for f in till.html.split() if "/till/apply" in f]


def test_an_expired_card_reads_as_expired_even_before_the_sweep(app, till):
    """Is a card past its date shown as Expired although its status is still active?"""
    code = make_card(app, "10.00", expired=True)
    till.open()
    till.look_up(code, total="5.00")
    assert "Status Expired" in text(till.html)


def test_an_empty_card_says_so(app, till):
    """Does a card with nothing left say so instead of offering to apply 0.00?"""
    code = make_card(app, "5.00")
    till.open()
    till.look_up(code, total="5.00")
    till.apply()
    till.open()
    till.look_up(code, total="3.00")
    assert "This card has nothing left on it" in text(till.html)
    assert "/till/apply" not in till.html


def test_a_card_frozen_after_look_up_is_refused_at_apply(app, till):
    """If an admin freezes the card while the customer waits, is the apply refused with nothing taken?"""
    code = make_card(app, "10.00")
    till.open()
    till.look_up(code, total="5.00")
    with app.app_context():
        db.session.execute(sa.update(GiftCard).values(status="frozen"))
        db.session.commit()
    response = till.apply()
    assert response.status_code == 422
    assert "This card is frozen" in text(till.html)
    assert balance(app, code) == "10.00" and count(app, "redeem") == 0


def test_a_qr_token_finds_the_card(app, till):
    """Does the customer's rotating QR token, scanned at the till, find the card?"""
    from portal.cards.lookup import find_card
    from portal.services import services

    code = make_card(app, "10.00")
    with app.app_context():
        token = services().qr.issue(find_card(db.session, code, services().vault, services().qr).code_id)
    till.open()
    till.look_up(token, total="2.00")
    assert "Balance 10.00 USD" in text(till.html)
    till.apply()
    assert balance(app, code) == "8.00"


def test_codes_are_forgiving_but_typos_and_unknown_codes_are_refused(app, till):
    """Lower case with spaces works; a typo and an unknown code get their own messages and 422."""
    code = make_card(app, "10.00")
    till.open()
    assert till.look_up(code.lower().replace("-", " "), total="1.00").status_code == 200
    assert "Balance 10.00 USD" in text(till.html)
    typo = code[:-1] + ("A" if code[-1] != "A" else "B")
    till.open()
    assert till.look_up(typo, total="1.00").status_code == 422
    assert "That code has a typo" in text(till.html)
    till.open()
    assert till.look_up(generate_card_code(), total="1.00").status_code == 422
    assert "No gift card has that code" in text(till.html)


def test_guessing_codes_locks_the_till_out_with_the_time_to_wait(app, till):
    """After 10 unknown codes, is even a real card refused with 429, Retry-After and a clear message?"""
    code = make_card(app, "10.00")
    till.open()
    for _ in range(10):
        till.look_up(generate_card_code(), total="1.00")
    response = till.look_up(code, total="1.00")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert re.search(r"Please wait \d+ minutes? and try again", text(till.html))


def test_a_total_without_a_code_moves_on_to_the_code(app, till):
    """Does Enter in the total field keep the total and put the cursor in the code field?"""
    till.open()
    response = till.send("/till/lookup", total="12.50", code="")
    assert response.status_code == 200
    assert re.search(r'<input[^>]*autofocus[^>]*id="code"', till.html)
    assert till.form("/till/loops").fields["total"] == "12.50"


def test_a_bad_total_is_refused_by_its_field(app, till):
    """Does a total like "abc" get a message by the total field and 422?"""
    till.open()
    response = till.send("/till/lookup", total="abc", code="")
    assert response.status_code == 422
    assert 'id="total-error"' in till.html


def test_a_tampered_or_borrowed_ticket_is_refused(app, till):
    """Can the apply form be pointed at another card, or sent by another store's staff? (No.)"""
    code = make_card(app, "10.00")
    till.open()
    till.look_up(code, total="5.00")
    fields = till.form("/till/apply").fields
    response = till.client.post("/till/apply", data={**fields, "ticket": "eyJjYXJkIjoyLCJ1c2VyIjoyfQ.x.y"})
    assert response.status_code == 422
    assert "This form is out of date" in text(response.get_data(as_text=True))

    add_merchant(app, "book-nook", "Book Nook", staff="books@example.com")
    other = Till(app.test_client())
    AuthActions(other.client).login("books@example.com")
    other.open()
    response = other.client.post("/till/apply", data={**fields, "csrf_token": other.form("/till/lookup").fields["csrf_token"]})
    assert response.status_code == 422
    assert balance(app, code) == "10.00" and count(app, "redeem") == 0


def test_loops_go_to_the_owner_of_the_card_that_paid(app, till, people):
    """Does Award Loops with no e-mail give the card owner 10 Loops per 1.00, once per sale?"""
    code = make_card(app, "20.00", owner=people["customer"])
    till.open()
    till.look_up(code, total="7.50")
    till.apply()
    assert "Leave empty to give them to Cara" in text(till.html)
    form = till.form("/till/loops")
    response = till.send("/till/loops")
    assert response.status_code == 200
    assert "75 Loops awarded to Cara" in text(till.html)
    till.client.post("/till/loops", data=form.fields)
    assert count(app, "points_earn") == 1
    with app.app_context():
        assert db.session.scalar(sa.select(User.lifetime_loops).where(User.email == people["customer"])) == 75


def test_loops_go_to_a_customer_named_by_e_mail(app, till, people):
    """Can a purchase paid some other way earn Loops for a customer named by e-mail?"""
    till.open()
    till.send("/till/lookup", total="3.00", code="")
    till.send("/till/loops", email=people["customer"].upper())
    assert "30 Loops awarded to Cara" in text(till.html)


def test_loops_need_a_customer(app, till, people):
    """Without an owned card, an unknown or a staff e-mail is refused with 422 and no Loops."""
    till.open()
    till.send("/till/lookup", total="3.00", code="")
    assert till.send("/till/loops", email="").status_code == 422
    assert "Enter the customer's e-mail address" in text(till.html)
    assert till.send("/till/loops", email="nobody@example.com").status_code == 422
    assert till.send("/till/loops", email=people["merchant"]).status_code == 422
    assert "No Giftloop customer has that e-mail address" in text(till.html)
    assert count(app, "points_earn") == 0


def test_a_payment_in_the_sale_can_be_undone_with_a_reason(app, till):
    """Does undo need a reason, then give the card its money back and reopen what is due?"""
    code = make_card(app, "10.00")
    till.open()
    till.look_up(code, total="6.00")
    till.apply()
    [undo_action] = [f.action for f in forms_of(till.html) if f.action.endswith("/undo")]
    reason = f"undo-{undo_action.split('/')[-2]}-reason"
    response = till.send(undo_action, **{reason: "  "})
    assert response.status_code == 422
    assert "Please give a reason" in text(till.html)
    assert balance(app, code) == "4.00"
    response = till.send(undo_action, **{reason: "Customer changed their mind"})
    assert response.status_code == 200
    words = text(till.html)
    assert "was undone: the card has its money back" in words
    assert balance(app, code) == "10.00"
    assert "Payments for this sale" in words and "10.00 USD undone" not in words and "6.00 USD undone" in words
    # Nothing is paid any more: the sale is open again, total kept, for another card.
    assert till.form("/till/lookup").fields["total"] == "6.00"


def test_an_old_look_up_must_be_scanned_again_and_the_sale_is_kept(app, till, monkeypatch):
    """If the card was looked up too long ago, is the apply refused with the sale still there?"""
    from portal.till import checkout

    first, second = make_card(app, "10.00"), make_card(app, "10.00")
    till.open()
    till.look_up(first, total="15.00")
    till.apply()
    till.look_up(second)
    monkeypatch.setattr(checkout, "TICKET_SECONDS", -1)
    response = till.apply()
    assert response.status_code == 422
    words = text(till.html)
    assert "please scan it again" in words and "still to pay 5.00 USD" in words
    assert balance(app, second) == "10.00"


def test_a_card_held_for_a_friend_is_not_valid_here_and_says_why(app, till, people):
    """A card its owner is giving away: the panel says "Valid here No" with the reason, and offers no Apply."""
    from portal.cards.transfers import start_transfer
    from portal.ledger import Actor
    from portal.services import services

    code = make_card(app, "10.00", owner=people["customer"])
    with app.app_context():
        card = db.session.scalar(sa.select(GiftCard))
        owner = db.session.scalar(sa.select(User).where(User.email == people["customer"]))
        start_transfer(db.session, services().vault, card, actor=Actor(user_id=owner.id), to_email=None)
        db.session.commit()
    till.open()
    till.look_up(code, total="5.00")
    words = text(till.html)
    assert "Valid here No" in words and "Valid here Yes" not in words
    assert "waiting to be claimed by a friend" in words
    assert not [f for f in forms_of(till.html) if f.action == "/till/apply"]
