"""Selling a card or topping one up for cash at the counter."""

from __future__ import annotations

import re

import sqlalchemy as sa

from portal.cards.codes import CARD_CODE_RE, generate_card_code
from portal.extensions import db
from portal.models import AuditEvent, GiftCard, User
from tests.conftest import AuthActions, submit
from tests.factories import add_merchant, make_card, set_merchant
from tests.pages import text
from tests.reads import balance, count


def sold_code(html: str) -> str:
    return CARD_CODE_RE.search(html).group(0)


def card_of(app, code: str) -> GiftCard:
    from portal.cards.lookup import find_card
    from portal.services import services

    with app.app_context():
        card = find_card(db.session, code, services().vault, services().qr)
        db.session.expunge(card)
        return card


def test_a_card_sold_for_cash_shows_its_full_code_once_with_a_qr_code(app, till):
    """Is the full code on the answer (with a QR of it, never cached), and gone when the page is opened again?"""
    till.open("/till/sell")
    response = till.send("/till/sell", **{"sell-amount": "25.00"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    code = sold_code(till.html)
    words = text(till.html)
    assert "Card sold" in words and "25.00 USD gift card for Corner Café" in words
    assert "This is the only time the full code is shown" in words
    assert re.search(r'<svg class="qr" role="img" aria-label="QR code of the card\'s code"', till.html)
    assert balance(app, code) == "25.00"
    assert not CARD_CODE_RE.search(till.client.get("/till/sell").get_data(as_text=True))


def test_the_sold_qr_code_reads_back_as_the_plain_code(app, till):
    """Does the QR code on a sold card decode to its code (a printed card carries the plain code)?"""
    import io

    import zxingcpp
    from PIL import Image

    from portal.merchant.sales import qr_svg

    code = "GC-ABCD-EFGH-JKMN-PQRS-T"
    svg = str(qr_svg(code))
    modules = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    scale = 8
    image = Image.new("L", (modules * scale, modules * scale), 255)
    pixels = image.load()
    for x, y in re.findall(r"M(\d+),(\d+)H", svg):
        for dx in range(scale):
            for dy in range(scale):
                pixels[int(x) * scale + dx, int(y) * scale + dy] = 0
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    [result] = zxingcpp.read_barcodes(Image.open(buffer))
    assert result.text == code


def test_cards_sold_here_work_only_here_unless_the_store_sells_network_cards(app, till):
    """Is a sold card scoped to this store, or network-wide when the store is set up so?"""
    till.open("/till/sell")
    till.send("/till/sell", **{"sell-amount": "10.00"})
    assert card_of(app, sold_code(till.html)).merchant_id is not None
    set_merchant(app, "corner-cafe", sells_network_cards=True)
    till.open("/till/sell")
    assert "Cards sold here work at every Giftloop merchant" in text(till.html)
    till.send("/till/sell", **{"sell-amount": "10.00"})
    assert "for any Giftloop merchant" in text(till.html)
    assert card_of(app, sold_code(till.html)).merchant_id is None


def test_the_same_sell_form_sent_twice_sells_one_card(app, till):
    """A double click on Sell: is one card issued, and its code shown on both answers?"""
    till.open("/till/sell")
    fields = {**till.form("/till/sell").fields, "sell-amount": "15.00"}
    first = till.client.post("/till/sell", data=fields).get_data(as_text=True)
    again = till.client.post("/till/sell", data=fields).get_data(as_text=True)
    assert count(app, "issue") == 1
    assert sold_code(first) == sold_code(again)


def test_a_card_can_be_sold_into_a_customers_account(app, till, people):
    """With the customer's e-mail, does the card belong to their account?"""
    till.open("/till/sell")
    till.send("/till/sell", **{"sell-amount": "10.00", "sell-email": people["customer"]})
    assert "In Cara's Giftloop account" in text(till.html)
    with app.app_context():
        owner = db.session.scalar(sa.select(User.id).where(User.email == people["customer"]))
    assert card_of(app, sold_code(till.html)).owner_id == owner


def test_a_bad_sale_is_refused_and_sells_nothing(app, till):
    """A bad amount or an unknown e-mail: 422, a message by the field, and no card."""
    till.open("/till/sell")
    assert till.send("/till/sell", **{"sell-amount": "0"}).status_code == 422
    assert 'id="sell-amount-error"' in till.html and "The amount must be more than zero" in text(till.html)
    till.open("/till/sell")
    assert till.send("/till/sell", **{"sell-amount": "5.00", "sell-email": "nobody@example.com"}).status_code == 422
    assert "No Giftloop customer has that e-mail address" in text(till.html)
    assert count(app, "issue") == 0


def test_a_card_is_topped_up_with_cash(app, till):
    """Does a top-up add the amount and say what the card now holds?"""
    code = make_card(app, "10.00")
    till.open("/till/sell")
    fields = {**till.form("/till/load").fields, "load-code": code, "load-amount": "20.00"}
    response = till.client.post("/till/load", data=fields, headers={"HX-Request": "true"})
    assert response.status_code == 200
    words = text(response.get_data(as_text=True))
    assert "Added 20.00 USD" in words and "It now holds 30.00 USD" in words
    # The same form again (a double click) is one top-up.
    assert till.client.post("/till/load", data=fields).status_code == 200
    assert count(app, "load") == 1 and balance(app, code) == "30.00"


def test_a_top_up_is_refused_for_another_stores_card_and_unknown_codes(app, till):
    """Does another store's card get its reason, and an unknown code count as a failed guess?"""
    add_merchant(app, "book-nook", "Book Nook")
    theirs = make_card(app, "10.00", merchant="book-nook")
    till.open("/till/sell")
    assert till.send("/till/load", **{"load-code": theirs, "load-amount": "5.00"}).status_code == 422
    assert "This card can only be used at Book Nook" in text(till.html)
    till.open("/till/sell")
    assert till.send("/till/load", **{"load-code": generate_card_code(), "load-amount": "5.00"}).status_code == 422
    assert "No gift card has that code" in text(till.html) and 'id="load-code-error"' in till.html
    assert count(app, "load") == 0 and balance(app, theirs) == "10.00"


def test_sell_and_top_up_answer_htmx_with_their_own_section(app, till):
    """Does each form's htmx answer carry only its own section?"""
    till.open("/till/sell")
    till.send("/till/sell", **{"sell-amount": "5.00"})
    assert till.html.lstrip().startswith('<section id="sell-card"')
    till.open("/till/sell")
    till.send("/till/load", **{"load-code": "nonsense", "load-amount": "5.00"})
    assert till.html.lstrip().startswith('<section id="load-card"')


def test_a_large_sale_asks_to_confirm_its_amount_and_sells_only_that_amount(app, till):
    """1,000,000.00 on one click sold a card: now the till asks "Confirm 1,000,000.00 USD" first, without script."""
    till.open("/till/sell")
    asked = till.send("/till/sell", **{"sell-amount": "1000000.00"})
    assert asked.status_code == 200 and count(app, "issue") == 0
    words = text(till.html)
    assert "1,000,000.00 USD is more than 500.00 USD" in words and "Confirm 1,000,000.00 USD" in words
    changed = {**till.form("/till/sell").fields, "sell-amount": "900000.00", "sell-confirmed": "1000000.00"}
    till.client.post("/till/sell", data=changed)
    assert count(app, "issue") == 0, "a confirmation names one amount, not another typed after it"
    till.send("/till/sell", **{"sell-confirmed": "1000000.00"})
    assert "Card sold" in text(till.html) and "1,000,000.00 USD gift card" in text(till.html)
    assert count(app, "issue") == 1


def test_a_large_top_up_asks_to_confirm_its_amount_too(app, till):
    code = make_card(app, "10.00")
    till.open("/till/sell")
    till.send("/till/load", **{"load-code": code, "load-amount": "2500.00"})
    assert "Confirm 2,500.00 USD" in text(till.html) and balance(app, code) == "10.00"
    till.send("/till/load", **{"load-confirmed": "2500.00"})
    assert balance(app, code) == "2510.00" and "2,510.00 USD" in text(till.html)


def test_a_merchant_sets_its_own_limit_for_confirming(app, till):
    """Corner Café confirms anything over 100.00: 150.00 asks first; 90.00 sells at once."""
    set_merchant(app, "corner-cafe", confirm_sales_above=10_000)
    till.open("/till/sell")
    till.send("/till/sell", **{"sell-amount": "150.00"})
    assert "150.00 USD is more than 100.00 USD" in text(till.html) and count(app, "issue") == 0
    till.open("/till/sell")
    till.send("/till/sell", **{"sell-amount": "90.00"})
    assert count(app, "issue") == 1


def test_an_admin_sets_the_tills_limit_for_confirming_and_refuses_a_bad_one(app, till, people):
    """The admin types 100.00 on Corner Café's page: its till then asks to confirm 150.00; bad
    amounts are refused with a reason and change nothing; an empty field goes back to 500.00."""
    admin = app.test_client()
    AuthActions(admin).login(people["admin"])
    page = "/admin/merchants/corner-cafe"
    assert "Its till confirms sales above 500.00 USD (the default)" in text(admin.get(page))
    for typed, words in (("abc", "The amount must be a number"), ("0", "The amount must be more than zero"),
                         ("-5", "more than zero"), ("1.234", "USD amounts have at most 2 decimal places")):
        refused = submit(admin, f"{page}/till", {"confirm_sales_above": typed}, page=page)
        assert refused.status_code == 422, typed
        assert f"{words}" in text(refused) and "give an amount in USD like 500.00" in text(refused), typed
        assert 'aria-invalid="true"' in refused.get_data(as_text=True)
    assert "Its till confirms sales above 500.00 USD (the default)" in text(admin.get(page))
    saved = submit(admin, f"{page}/till", {"confirm_sales_above": "100.00"}, page=page)
    assert saved.status_code == 303
    assert "Its till confirms sales above 100.00 USD" in text(admin.get(page))
    till.open("/till/sell")
    till.send("/till/sell", **{"sell-amount": "150.00"})
    assert "150.00 USD is more than 100.00 USD" in text(till.html) and count(app, "issue") == 0
    with app.app_context():
        (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "merchant.confirm_limit"))
        assert event.detail == {"before": "500.00 USD", "after": "100.00 USD"}
    submit(admin, f"{page}/till", {"confirm_sales_above": " "}, page=page)
    assert "Its till confirms sales above 500.00 USD (the default)" in text(admin.get(page))
    till.open("/till/sell")
    till.send("/till/sell", **{"sell-amount": "150.00"})
    assert count(app, "issue") == 1
