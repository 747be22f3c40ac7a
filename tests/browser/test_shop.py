"""The shop in real Chromium: a guest buys a 25.00 card for a friend with the test provider, the
friend's e-mail carries the code, and the card pays at a till; a declined payment issues nothing;
a customer tops their card up by card; a company orders cards in bulk."""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from playwright.sync_api import expect

from tests.browser.pages import fact, look_up, sign_in
from tests.browser.pages import sign_in as sign_in_at_till
from tests.factories import issue
from tests.shop import all_cards

pytestmark = pytest.mark.browser

CARD_CODE = re.compile(r"GC(?:-[0-9A-Z]{4}){4}-[0-9A-Z]")


def _choose_a_gift_for_fran(page) -> None:
    page.goto("/")
    page.get_by_role("link", name="Buy a gift card").click()
    page.get_by_label("25.00 USD").check()
    page.get_by_label("Birthday").check()
    page.get_by_label("For a friend").check()
    page.get_by_label("Friend's name").fill("Fran")
    page.get_by_label("Friend's e-mail").fill("fran@example.com")
    page.get_by_label("Message").fill("Happy birthday, Fran!")
    page.get_by_label("Your e-mail").fill("guest@example.com")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_role("heading", name="Test payment")).to_be_visible()


def test_a_guest_buys_a_card_for_a_friend_who_spends_it_at_a_till(app, people, phone, desktop, tmp_path):
    app.config["OUTBOX_DIR"] = str(tmp_path / "outbox")
    _choose_a_gift_for_fran(phone)
    phone.get_by_role("button", name="Pay 25.00 USD").click()
    expect(phone.get_by_role("status")).to_contain_text("Paid, thank you. Every card has been sent.")

    (message,) = list((tmp_path / "outbox").glob("*-card_received.eml"))
    mail = email.message_from_bytes(message.read_bytes(), policy=policy.default)
    assert mail["To"] == "fran@example.com"
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "25.00 USD" in body and "Happy birthday, Fran!" in body
    code = CARD_CODE.search(body).group(0)

    sign_in_at_till(desktop, people["merchant"])
    look_up(desktop, code, "7.00")
    expect(fact(desktop, "Balance")).to_have_text("25.00 USD")
    desktop.get_by_role("button", name="Apply", exact=True).click()
    expect(fact(desktop, "Left on card")).to_have_text("18.00 USD")


def test_a_declined_payment_issues_nothing(app, people, phone):
    _choose_a_gift_for_fran(phone)
    phone.get_by_role("button", name="Decline the payment").click()
    expect(phone.get_by_role("status")).to_contain_text("The payment was declined. Nothing was charged")
    assert all_cards(app) == []


def test_a_customer_tops_up_their_card_by_card_and_sees_the_new_balance(app, people, phone):
    card_id, _ = issue(app, owner=people["customer"], amount="25.00")
    sign_in(phone, people["customer"])
    phone.goto(f"/wallet/cards/{card_id}")
    phone.get_by_role("link", name="Top up by card").click()
    phone.get_by_label("Amount to add").fill("20.00")
    phone.get_by_role("button", name="Continue to payment").click()
    phone.get_by_role("button", name="Pay 20.00 USD").click()
    expect(phone.get_by_role("status")).to_contain_text("Paid, thank you. The value has been added.")
    phone.goto(f"/wallet/cards/{card_id}")
    expect(phone.locator("#balance-amount")).to_have_text("45.00 USD")


def test_a_company_orders_cards_in_bulk_gets_every_code_in_one_email_and_sends_one_to_a_colleague(app, people, phone, tmp_path):
    app.config["OUTBOX_DIR"] = str(tmp_path / "outbox")
    phone.goto("/shop")
    phone.get_by_role("link", name="Order many at once").click()
    phone.get_by_label("Number of cards").fill("5")
    phone.get_by_label("10.00 USD").check()
    phone.get_by_label("Your e-mail").fill("office@example.com")
    phone.get_by_role("button", name="Continue to payment").click()
    phone.get_by_role("button", name="Pay 50.00 USD").click()
    expect(phone.get_by_role("status")).to_contain_text("We have e-mailed you every code in one file")

    (message,) = list((tmp_path / "outbox").glob("*.eml"))
    mail = email.message_from_bytes(message.read_bytes(), policy=policy.default)
    (attached,) = list(mail.iter_attachments())
    assert mail["To"] == "office@example.com" and len(CARD_CODE.findall(attached.get_content())) == 5

    phone.get_by_label("E-mail of card 2's recipient").fill("ben@example.com")
    phone.get_by_role("button", name="E-mail card 2").click()
    expect(phone.get_by_role("row", name=re.compile("Card 2"))).to_contain_text("Sent to ben@example.com")
    assert len(list((tmp_path / "outbox").glob("*-card_received.eml"))) == 1
