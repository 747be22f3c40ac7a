"""A customer's wallet in real Chromium on a phone-sized screen: Loops into a card and its QR code,
a balance that updates by itself, and a card given to a friend."""

from __future__ import annotations

import email
import io
import re
from email import policy

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from portal.cards.codes import QrTokens
from portal.cards.lookup import find_card
from portal.extensions import db
from portal.models import GiftCard
from portal.services import services
from portal.tokens import create_token
from tests.browser.pages import no_sideways_scroll, sign_in, sign_up, tab_to
from tests.conftest import TEST_SECRET
from tests.factories import add_loops, issue, pay_at_till, user
from tests.reads import owner_of, user_id

pytestmark = pytest.mark.browser

CLAIM = re.compile(r"GL-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")


def read_qr(locator) -> str:
    """Decode the QR code in an element's screenshot, as a till's scanner would."""
    image = Image.open(io.BytesIO(locator.screenshot()))
    found = zxingcpp.read_barcodes(image)
    assert found, "no QR code found in the screenshot"
    return found[0].text


def test_a_customer_turns_loops_into_a_card_whose_qr_code_a_till_accepts(app, phone, people):
    """Converted by label and button, is the new card shown with a QR code that decodes to a token
    the merchant look-up and the card API both resolve to that card?"""
    add_loops(app, people["customer"], 2000)
    sign_in(phone, people["customer"])
    phone.get_by_role("link", name="Loops", exact=True).click()
    expect(phone.get_by_text("You have 2000 Loops")).to_be_visible()
    # A person types once the page has finished loading; typing earlier would beat htmx to the field.
    phone.wait_for_load_state("load")
    phone.get_by_label("Card value").fill("12.50")
    expect(phone.get_by_text("1250 Loops at 100 Loops per 1.00")).to_be_visible()
    expect(phone.get_by_text("You will have 750 Loops left.")).to_be_visible()
    assert no_sideways_scroll(phone)
    phone.get_by_role("button", name="Get the gift card").click()

    expect(phone).to_have_url(re.compile(r"/wallet/cards/\d+$"))
    card_id = int(phone.url.rsplit("/", 1)[1])
    expect(phone.get_by_text("Your 12.50 USD gift card is ready")).to_be_visible()
    expect(phone.locator("#balance-amount")).to_have_text("12.50 USD")
    qr = phone.get_by_role("img", name="QR code to pay with this card at the till")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box["width"] >= 250, "big enough for a till's camera"
    assert no_sideways_scroll(phone)

    token = read_qr(qr)
    with app.app_context():
        assert QrTokens(TEST_SECRET).resolve(token) == db.session.get(GiftCard, card_id).code_id
        assert find_card(db.session, token, services().vault, services().qr).id == card_id
        _, api_token = create_token(db.session, user(people["merchant"]), "till")
        db.session.commit()
    looked_up = app.test_client().post("/api/v1/cards/lookup", json={"code": token},
                                       headers={"Authorization": f"Bearer {api_token}"})
    assert looked_up.status_code == 200
    assert looked_up.json["id"] == card_id and looked_up.json["balance"] == "12.50"


def test_the_open_card_page_shows_a_till_payment_without_a_reload(app, phone, people):
    """After a redemption made elsewhere, does the open page show the new balance by itself, having
    answered the polls before it with 304s, and with no Content-Security-Policy complaint?"""
    card_id, _ = issue(app, owner=people["customer"], amount="25.00")
    statuses: list[int] = []
    violations: list[str] = []
    phone.on("response", lambda r: statuses.append(r.status) if r.url.endswith(f"/cards/{card_id}/balance") else None)
    phone.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in(phone, people["customer"])
    phone.get_by_role("link", name=re.compile(r"25\.00 USD")).click()
    expect(phone.locator("#balance-amount")).to_have_text("25.00 USD")
    phone.evaluate("window.stillTheSamePage = true")
    for _ in range(150):  # at least one poll while nothing changed (every 5 s)
        if 304 in statuses:
            break
        phone.wait_for_timeout(100)
    assert 304 in statuses

    pay_at_till(app, card_id, "7.50")
    expect(phone.locator("#balance-amount")).to_have_text("17.50 USD", timeout=30_000)
    assert phone.evaluate("window.stillTheSamePage") is True
    expect(phone.locator("#card-history")).to_contain_text("Paid at Corner Café", timeout=10_000)
    assert violations == []


def test_a_card_given_by_email_is_claimed_by_a_friend_who_signs_up(app, browser, live_server, phone, people, tmp_path):
    """Does the friend's e-mail carry a claim link that, after signing up, puts the card in their wallet
    and takes it out of the giver's?"""
    app.config["OUTBOX_DIR"] = str(tmp_path / "outbox")
    card_id, _ = issue(app, owner=people["customer"], amount="20.00")
    sign_in(phone, people["customer"])
    phone.goto(f"/wallet/cards/{card_id}")
    phone.get_by_label("Your friend's e-mail address (optional)").fill("fern@example.com")
    phone.get_by_role("button", name="Give this card").click()
    expect(phone.get_by_text("We are e-mailing fern@example.com a link to claim the card")).to_be_visible()
    expect(phone.locator("#card-balance")).to_contain_text("Waiting for your friend to claim it", timeout=10_000)
    assert no_sideways_scroll(phone)

    messages = list((tmp_path / "outbox").glob("*-transfer_invitation.eml"))
    assert len(messages) == 1
    mail = email.message_from_bytes(messages[0].read_bytes(), policy=policy.default)
    assert mail["To"] == "fern@example.com"
    body = mail.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https?://\S+/claim/(GL-[0-9A-Z-]+)", body)
    assert link, body

    friend = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True)
    fern = friend.new_page()
    fern.goto(f"/claim/{link.group(1)}")
    fern.get_by_role("link", name="Create a wallet").click()
    sign_up(fern, app, "Fern", "fern@example.com", "a long passphrase")
    expect(fern).to_have_url(re.compile(rf"/claim/{link.group(1)}$"))
    fern.get_by_role("button", name="Add it to my wallet").click()
    expect(fern).to_have_url(re.compile(rf"/wallet/cards/{card_id}$"))
    expect(fern.get_by_text("Your friend's gift card is now in your wallet.")).to_be_visible()
    expect(fern.locator("#balance-amount")).to_have_text("20.00 USD")
    friend.close()

    assert owner_of(app, card_id) == user_id(app, "fern@example.com")
    expect(phone.locator("#card-balance")).to_contain_text("Your friend claimed this card", timeout=15_000)
    phone.get_by_role("link", name="Back to your wallet").first.click()
    expect(phone.locator(f'a[href="/wallet/cards/{card_id}"]')).to_have_count(0)


def test_a_claim_code_is_redeemed_in_another_browser_and_leaves_the_givers_list(app, browser, live_server, phone, people):
    """Given by claim code, is the card claimed by a second customer in another browser context?"""
    from tests.factories import add_customer

    add_customer(app, "gus@example.com")
    card_id, _ = issue(app, owner=people["customer"], amount="9.00")
    sign_in(phone, people["customer"])
    phone.goto(f"/wallet/cards/{card_id}")
    phone.get_by_role("button", name="Give this card").click()
    claim = CLAIM.search(phone.locator(".claim-once").inner_text()).group(0)

    other = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True)
    gus = other.new_page()
    sign_in(gus, "gus@example.com")
    gus.get_by_role("link", name="Redeem", exact=True).click()
    gus.get_by_label("Code").fill(claim.lower().replace("-", " "))
    gus.get_by_role("button", name="Redeem").click()
    expect(gus).to_have_url(re.compile(rf"/wallet/cards/{card_id}$"))
    expect(gus.locator("#balance-amount")).to_have_text("9.00 USD")
    other.close()

    phone.goto("/wallet/")
    expect(phone.locator(f'a[href="/wallet/cards/{card_id}"]')).to_have_count(0)


def test_the_code_is_revealed_by_keyboard_and_every_page_fits_the_phone(app, phone, people):
    """Can the keyboard reach "Reveal code" and show the code, and does no customer or public page
    scroll sideways at 390 pixels?"""
    card_id, code = issue(app, owner=people["customer"], amount="25.00")
    sign_in(phone, people["customer"])
    phone.goto(f"/wallet/cards/{card_id}")
    reveal = phone.get_by_role("button", name="Reveal code")
    tab_to(phone, reveal, 30)
    phone.keyboard.press("Enter")
    expect(phone.locator("#card-code")).to_contain_text(code)
    expect(phone.get_by_role("link", name="Hide code")).to_be_visible()

    for path in ("/wallet/", f"/wallet/cards/{card_id}", f"/wallet/cards/{card_id}/topup", "/wallet/loops/convert",
                 "/wallet/redeem", f"/wallet/cards/{card_id}/print", "/balance", "/claim/GL-ABCD-EFGH-JKMN"):
        phone.goto(path)
        assert no_sideways_scroll(phone), path
