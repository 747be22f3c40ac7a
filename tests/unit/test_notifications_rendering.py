"""E-mails rendered from their paired templates: both parts, the QR image, and codes kept out of
places they do not belong (texts that need only the masked code, logs, the outbox context)."""

from __future__ import annotations

import io
import logging
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image

from portal.cards.operations import issue_card
from portal.extensions import db
from portal.ledger import SYSTEM
from portal.models import OutboxMessage
from portal.money import Money
from portal.notifications import messages
from portal.notifications.outbox import queue_email
from portal.notifications.rendering import message_id, render
from portal.services import services
from tests.conftest import PASSWORD


def issue(amount="25.00", owner=None, key="issue-1"):
    return issue_card(
        db.session, services().vault, amount=Money.parse(amount, "USD"), actor=SYSTEM, idempotency_key=key,
        owner=owner,
    )


def queued(kind: str) -> OutboxMessage:
    return db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.kind == kind))


def parts(message) -> dict[str, object]:
    """The message as a mail client sees it: text, HTML and images by content type."""
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    found: dict[str, object] = {"images": []}
    for part in parsed.walk():
        kind = part.get_content_type()
        if kind == "text/plain":
            found["text"] = part.get_content()
        elif kind == "text/html":
            found["html"] = part.get_content()
        elif kind.startswith("image/"):
            found["images"].append(part)
    return found


def qr_text(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1
    return results[0].text


def test_a_card_emailed_to_an_address_carries_its_code_in_both_parts_and_as_a_qr_image(mail_app):
    """Does the bearer card's e-mail hold the full code in text and HTML, and a QR of exactly it?"""
    issued = issue()
    messages.card_received(db.session, issued, send_to="friend@example.com")
    db.session.flush()
    row = queued("card_received")
    rendered = render(db.session, row)
    found = parts(rendered.message)
    assert issued.code in found["text"] and issued.code in found["html"]
    assert "25.00 USD" in found["text"]
    (image,) = found["images"]
    assert image.get_content_type() == "image/png"
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in found["html"]
    assert qr_text(image.get_content()) == issued.code
    assert rendered.message["To"] == "friend@example.com"
    assert rendered.subject == "You have been sent a Giftloop gift card"


def test_the_outbox_row_keeps_the_code_encrypted_not_in_clear(mail_app):
    """Is the full code absent from the row's columns, and only in its vault ciphertext?"""
    issued = issue()
    messages.card_received(db.session, issued, send_to="friend@example.com")
    db.session.flush()
    row = queued("card_received")
    assert issued.code not in str(row.context)
    assert issued.code.encode() not in row.code_ciphertext
    assert services().vault.decrypt(row.code_ciphertext) == issued.code


def test_a_card_in_an_owners_wallet_is_announced_with_the_masked_code_only(mail_app, customer):
    """Does an owner's "new card" e-mail show the masked code, never the full one, and no QR?"""
    issued = issue(owner=customer)
    messages.card_received(db.session, issued)
    db.session.flush()
    rendered = render(db.session, queued("card_received"))
    raw = rendered.message.as_string()
    found = parts(rendered.message)
    assert issued.card.code.masked in found["text"] and issued.card.code.masked in found["html"]
    assert issued.code not in raw
    assert found["images"] == []
    assert f"/wallet/cards/{issued.card.id}" in found["text"]


def test_a_receipt_shows_the_masked_code_amount_and_what_is_left(mail_app, customer):
    """Does a redemption receipt name the masked card, the amount paid and the balance after?"""
    from portal.cards.operations import redeem

    issued = issue("30.00", owner=customer)
    result = redeem(db.session, issued.card, Money.parse("12.50", "USD"), actor=SYSTEM, idempotency_key="pay-1", merchant=None)
    messages.redemption_receipt(db.session, issued.card, result.transaction)
    db.session.flush()
    rendered = render(db.session, queued("redemption_receipt"))
    found = parts(rendered.message)
    for part in (found["text"], found["html"]):
        assert issued.card.code.masked in part
        assert "12.50 USD" in part and "17.50 USD" in part
        assert issued.code not in part
    assert rendered.subject == "Receipt: 12.50 USD paid with your gift card"


def test_a_customer_who_turned_receipts_off_gets_none(mail_app, customer):
    """With receipts_by_email off, is no receipt queued at all?"""
    customer.receipts_by_email = False
    issued = issue("30.00", owner=customer)
    from portal.cards.operations import redeem

    result = redeem(db.session, issued.card, Money.parse("5.00", "USD"), actor=SYSTEM, idempotency_key="pay-1", merchant=None)
    assert messages.redemption_receipt(db.session, issued.card, result.transaction) is None
    assert queued("redemption_receipt") is None


def test_a_transfer_invitation_links_to_the_claim_page(mail_app):
    """Does the invitation carry the claim link under PORTAL_BASE_URL, in both parts?"""
    from portal.auth.users import create_user
    from portal.cards.transfers import start_transfer
    from portal.ledger import Actor

    mail_app.config["PORTAL_BASE_URL"] = "https://gifts.example.com"
    owner = create_user(db.session, "olly@example.com", PASSWORD, role="customer", name="Olly")
    issued = issue("40.00", owner=owner)
    transfer, claim_code = start_transfer(
        db.session, services().vault, issued.card, actor=Actor(user_id=owner.id), to_email="friend@example.com"
    )
    messages.transfer_invitation(db.session, transfer, claim_code)
    db.session.flush()
    row = queued("transfer_invitation")
    assert claim_code not in str(row.context)
    found = parts(render(db.session, row).message)
    link = f"https://gifts.example.com/claim/{claim_code}"
    assert link in found["text"] and link in found["html"]
    assert "Olly" in found["text"]
    assert found["images"] == []  # a claim code is not a card code: no QR to scan at a till


HOSTILE_NAME = "Giftloop Security <b>urgent</b>\r\nBcc: all@example.com\n\nYour account is locked\u202e"


@pytest.mark.parametrize(("kind", "subject"), [
    ("transfer_invitation", "You have been sent a Giftloop gift card"),
    ("gift_received", "You have been given a Giftloop gift"),
    ("gift_redeemed", "Your Giftloop gift was redeemed"),
])
def test_a_name_someone_typed_never_reaches_a_subject_and_stays_on_one_line_in_the_body(mail_app, kind, subject):
    """Is the subject of a message about a person's gift fixed, and their name quoted in the body
    on one line, HTML-escaped, with no line breaks or direction overrides of its own?"""
    issued = issue()
    context = {
        "transfer_invitation": {"transfer_id": 1, "from_name": HOSTILE_NAME, "claim_by": "1 March 2027"},
        "gift_received": {"gift_id": 1, "from_name": HOSTILE_NAME, "plan_name": "Giftloop Plus", "days": 30,
                          "message": None, "redeem_by": "1 March 2027"},
        "gift_redeemed": {"gift_id": 1, "by_name": HOSTILE_NAME, "plan_name": "Giftloop Plus", "days": 30},
    }[kind]
    queue_email(db.session, key=f"{kind}:hostile", to="friend@example.com", kind=kind, context=context,
                card_id=issued.card.id if kind == "transfer_invitation" else None, code="TR-ABCD-EFGH")
    rendered = render(db.session, queued(kind))
    parsed = message_from_bytes(rendered.message.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == subject and parsed["Bcc"] is None
    found = parts(rendered.message)
    one_line = "Giftloop Security <b>urgent</b> Bcc: all@example.com Your account is locked"
    assert f'"{one_line}"' in found["text"]
    assert "Giftloop Security &lt;b&gt;urgent&lt;/b&gt; Bcc: all@example.com Your account is locked" in found["html"]
    assert "\u202e" not in found["text"] + found["html"] and "<b>urgent" not in found["html"]


@pytest.mark.parametrize("kind", ["expiry_reminder", "card_expired", "topup_receipt"])
def test_every_kind_renders_both_parts_with_a_subject(mail_app, customer, kind):
    """Do the other kinds render to text and HTML with a one-line subject and the masked code?"""
    issued = issue(owner=customer)
    context = {
        "expiry_reminder": {},
        "card_expired": {"lost": 2500, "currency": "USD", "expired_on": "1 March 2027"},
        "topup_receipt": {"transaction_id": 9, "amount": 1000, "currency": "USD", "balance_after": 3500,
                          "at": "1 March 2027, 10:00 UTC", "source": "cash"},
    }[kind]
    queue_email(db.session, key=f"{kind}:test", to=customer.email, kind=kind, context=context, card_id=issued.card.id)
    rendered = render(db.session, queued(kind))
    found = parts(rendered.message)
    assert rendered.subject and "\n" not in rendered.subject
    assert issued.card.code.masked in found["text"] and issued.card.code.masked in found["html"]
    assert issued.code not in rendered.message.as_string()


def test_the_message_id_comes_from_the_key_so_a_resend_is_recognisable(mail_app):
    """Does every rendering of one row carry the same Message-ID, and another row another?"""
    issued = issue()
    messages.card_received(db.session, issued, send_to="friend@example.com")
    db.session.flush()
    row = queued("card_received")
    first, second = render(db.session, row).message, render(db.session, row).message
    assert first["Message-ID"] == second["Message-ID"] == message_id("card_received:%d" % issued.card.id)
    assert message_id("card_received:1") != message_id("card_received:2")
    assert first["Message-ID"].endswith("@localhost>")


def test_a_full_code_is_refused_in_the_context(mail_app):
    """Is a full card code in the context refused, so it can only travel encrypted?"""
    issued = issue()
    with pytest.raises(ValueError, match="full card code"):
        queue_email(db.session, key="x", to="a@example.com", kind="card_received", context={"note": issued.code})
    with pytest.raises(ValueError):
        queue_email(db.session, key="y", to="a@example.com", kind="card_received", context={"card": issued.card})
    with pytest.raises(Exception):
        queue_email(db.session, key="z", to="a@example.com", kind="no_such_kind", context={})


def test_the_log_of_a_sent_card_names_its_masked_code_never_the_full_one(mail_app, caplog):
    """When a bearer card's e-mail goes out, does the log show only the masked code?"""
    caplog.set_level(logging.DEBUG)
    issued = issue()
    messages.card_received(db.session, issued, send_to="friend@example.com")
    db.session.commit()
    assert queued("card_received").status == "sent"
    assert issued.card.code.masked in caplog.text
    assert issued.code not in caplog.text
    assert "friend@example.com" not in caplog.text  # addresses are masked too
