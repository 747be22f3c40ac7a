"""Gift subscriptions in real Chromium on a phone: a gift bought, reviewed, paid and e-mailed to a
friend who redeems it; an open gift's code handed on and typed in "Redeem a code"; every refusal of
DESIGN §2 shown plainly; the pages fit the phone, work by keyboard and pass an axe audit."""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from playwright.sync_api import expect

from tests.browser.axe import audited_page, serious_violations
from tests.browser.pages import no_sideways_scroll, sign_in, tab_to
from tests.gifts import BUYER, FRIEND, STRANGER, everything, make_gift, subscription_end
from tests.reads import loops_of, wallet_of

pytestmark = pytest.mark.browser

GIFT_CODE = re.compile(r"GIFT(?:-[0-9A-Z]{4}){4}")


def test_a_gift_is_bought_for_a_friend_who_redeems_it_from_their_gifts(gifting, browser, live_server, phone, tmp_path):
    """Form, review with the price, "Pay and send"; the friend's e-mail has the code; the friend
    redeems it from "Gifts for you" and the wallet shows the subscription."""
    app = gifting
    app.config["OUTBOX_DIR"] = str(tmp_path / "outbox")
    sign_in(phone, BUYER)
    phone.get_by_role("link", name="Gifts", exact=True).click()
    phone.get_by_role("link", name="Buy a gift").click()
    phone.get_by_label("Subscription").select_option("plus")
    phone.get_by_label("Your friend's e-mail address (optional)").fill(FRIEND)
    phone.get_by_label("A message for your friend (optional)").fill("Happy birthday, Fran!")
    phone.get_by_label(re.compile(r"^Wallet credit")).check()
    assert no_sideways_scroll(phone)
    phone.get_by_role("button", name="Review the gift").click()

    expect(phone.get_by_role("heading", name="Check and pay")).to_be_visible()
    expect(phone.locator("#gift")).to_contain_text("You pay")
    expect(phone.locator("#gift")).to_contain_text("4.99 USD from your wallet credit")
    assert wallet_of(app, BUYER) == 2000
    assert no_sideways_scroll(phone)
    phone.get_by_role("button", name="Pay and send").click()
    expect(phone.get_by_text("Paid and sent. Your friend will get an e-mail with the code.")).to_be_visible()
    expect(phone.locator("#gift")).to_contain_text(f"Sent to {FRIEND}")
    assert wallet_of(app, BUYER) == 2000 - 499

    (message,) = list((tmp_path / "outbox").glob("*-gift_received.eml"))
    mail = email.message_from_bytes(message.read_bytes(), policy=policy.default)
    assert mail["To"] == FRIEND and mail["Subject"] == "You have been given a Giftloop gift"
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert GIFT_CODE.search(body) and "Happy birthday, Fran!" in body and '"Cara" gave you Giftloop Plus' in body

    other = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True)
    fran = other.new_page()
    sign_in(fran, FRIEND)
    fran.get_by_role("link", name="Gifts", exact=True).click()
    fran.get_by_role("link", name=re.compile(r"Giftloop Plus, 30 days.*From Cara")).click()
    expect(fran.locator("#gift")).to_contain_text("Happy birthday, Fran!")
    fran.get_by_role("button", name="Redeem the gift").click()
    expect(fran.get_by_text(re.compile(r"Giftloop Plus is yours until"))).to_be_visible()
    expect(fran.get_by_role("region", name="Subscriptions")).to_contain_text("Giftloop Plus: active until")
    other.close()
    assert subscription_end(app, FRIEND) is not None

    phone.get_by_role("link", name="Gifts", exact=True).click()
    expect(phone.get_by_role("region", name="Gifts you gave")).to_contain_text("Redeemed on")


def test_an_open_gift_paid_with_loops_is_handed_on_and_redeemed_by_code(gifting, browser, live_server, phone):
    """The buyer sees the open gift's code (by keyboard) and a stranger redeems it in "Redeem a code"."""
    app = gifting
    sign_in(phone, BUYER)
    phone.goto("/wallet/gifts/new")
    phone.get_by_label(re.compile(r"^Loops")).check()
    phone.get_by_role("button", name="Review the gift").click()
    expect(phone.locator("#gift")).to_contain_text("499 Loops")
    phone.get_by_role("button", name="Pay and send").click()
    expect(phone.get_by_text("Paid and sent. Hand the code below to your friend.")).to_be_visible()
    assert loops_of(app, BUYER) == 1000 - 499
    show = phone.get_by_role("button", name="Show the gift code")
    tab_to(phone, show, 40)
    phone.keyboard.press("Enter")
    expect(phone.locator("#gift-code")).to_have_text(GIFT_CODE)
    code = GIFT_CODE.search(phone.locator("#gift-code").inner_text()).group(0)

    other = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True)
    stranger = other.new_page()
    sign_in(stranger, STRANGER)
    stranger.get_by_role("link", name="Redeem", exact=True).click()
    stranger.get_by_label("Code").fill(code.lower().replace("-", " "))
    stranger.get_by_role("button", name="Redeem").click()
    expect(stranger).to_have_url(re.compile(r"/wallet/$"))
    expect(stranger.get_by_text(re.compile(r"Giftloop Plus is yours until"))).to_be_visible()
    other.close()


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("unsent", "This gift has not been sent yet"),
        ("cancelled", "The sender cancelled this gift"),
        ("expired", "This gift expired on"),
        ("redeemed", "This gift was already redeemed"),
        ("other person", "This gift was sent to a different e-mail address"),
    ],
)
def test_each_refusal_of_a_gift_code_is_shown_and_changes_nothing(gifting, phone, case, words):
    from tests.gifts import gift_case

    app = gifting
    code, who = gift_case(app, {"other person": "stranger"}.get(case, case))
    before = everything(app)
    sign_in(phone, who)
    phone.goto("/wallet/redeem")
    phone.get_by_label("Code").fill(code)
    phone.get_by_role("button", name="Redeem").click()
    expect(phone.locator("#redeem")).to_contain_text(words)
    expect(phone.get_by_label("Code")).to_have_attribute("aria-invalid", "true")
    assert everything(app) == before


def test_the_buyer_cancels_a_sent_gift_and_gets_the_money_back(gifting, phone):
    app = gifting
    gift_id, _ = make_gift(app)
    sign_in(phone, BUYER)
    phone.goto(f"/wallet/gifts/{gift_id}")
    phone.get_by_role("button", name="Cancel and refund").click()
    expect(phone.get_by_text("The gift is cancelled; anything you paid is back where it came from.")).to_be_visible()
    expect(phone.locator("#gift")).to_contain_text("Cancelled, refunded")
    assert wallet_of(app, BUYER) == 2000


def test_the_gift_pages_pass_an_axe_audit_and_fit_the_phone(gifting, browser, live_server):
    app = gifting
    sent, _ = make_gift(app, to=None)
    unpaid, _ = make_gift(app, pay=False)
    with audited_page(browser, live_server, viewport={"width": 390, "height": 844}, is_mobile=True) as page:
        sign_in(page, BUYER)
        for path in ("/wallet/gifts", "/wallet/gifts/new", f"/wallet/gifts/{sent}", f"/wallet/gifts/{unpaid}", "/wallet/"):
            page.goto(path)
            assert serious_violations(page) == [], path
            assert no_sideways_scroll(page), path
