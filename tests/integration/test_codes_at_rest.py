"""No full code can be read out of a database dump, the outbox or any log (DESIGN §2 Codes, §7)."""

from __future__ import annotations

import logging
import subprocess
import uuid
from pathlib import Path

import pytest

from portal.auth.users import create_user
from portal.cards.codes import generate_card_code
from portal.extensions import db
from portal.merchants import create_merchant
from portal.models import GiftCard, OutboxMessage
from portal.notifications.delivery import deliver_batch
from portal.services import services
from portal.tokens import create_token
from tests.conftest import make_app, serve_gunicorn
from tests.security.conftest import ADMIN, CUSTOMERS, STAFF, Stack, hidden_fields, seed_people

pytestmark = pytest.mark.postgres


def spellings(code: str) -> set[str]:
    """The ways a code could sit in a dump or a log: as shown, without dashes, lower case."""
    compact = code.replace("-", "")
    found = {code, compact, code.lower(), compact.lower()}
    if code.startswith("GC-"):
        found |= {compact[2:], compact[2:].lower()}  # the symbols alone also name the card
    return found


def pg_dump(pg_url: str) -> str:
    return subprocess.run(
        ["pg_dump", "--data-only", pg_url.replace("postgresql+psycopg://", "postgresql://")],
        capture_output=True, text=True, check=True,
    ).stdout


def test_a_database_dump_and_the_logs_hold_no_issued_code(pg_app, pg_url, caplog):
    """After issuing, e-mailing, redeeming, looking up and claiming cards, does pg_dump or any log
    line show a code (the claimed card's old or new one)?"""
    with pg_app.app_context():
        cafe = create_merchant(db.session, "corner-cafe", "Corner Café")
        staff = create_user(db.session, "staff@example.com", "a long password", role="merchant", merchant=cafe)
        cara = create_user(db.session, "cara@example.com", "a long password", name="Cara")
        _, token = create_token(db.session, staff, "till")
        _, caras = create_token(db.session, cara, "phone")
        db.session.commit()
    client = pg_app.test_client()
    headers = lambda: {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}  # noqa: E731
    codes = []
    with caplog.at_level(logging.DEBUG):
        for owner in (None, "cara@example.com"):
            body = {"amount": "30.00", "currency": "USD", **({"owner_email": owner} if owner else {})}
            issued = client.post("/api/v1/cards", json=body, headers=headers())
            assert issued.status_code == 201, issued.json
            codes.append(issued.json["code"])
        for code in codes:
            assert client.post("/api/v1/cards/redeem", json={"code": code, "amount": "5.00"}, headers=headers()).status_code == 200
            assert client.post("/api/v1/cards/lookup", json={"code": code}, headers=headers()).status_code == 200
        # Cara claims the bearer card: it gets a new code, mailed to her (encrypted in the outbox).
        claimed = client.post(
            "/api/v1/me/redeem", json={"code": codes[0]}, headers={**headers(), "Authorization": f"Bearer {caras}"}
        )
        assert claimed.status_code == 200, claimed.json
        with pg_app.app_context():
            card = db.session.get(GiftCard, claimed.json["card"]["id"])
            codes.append(services().vault.decrypt(card.code.ciphertext))
        redeemed = client.post("/api/v1/cards/redeem", json={"code": codes[-1], "amount": "5.00"}, headers=headers())
        assert redeemed.status_code == 200
    dump = pg_dump(pg_url)
    assert "gift_cards" in dump and "codes" in dump
    logs = "\n".join(record.getMessage() for record in caplog.records)
    for code in codes:
        for spelling in spellings(code):
            assert spelling not in dump, "a code is stored in clear"
            assert spelling not in logs, "a code reached the logs"


def till_sale(stack: Stack, code: str, total: str) -> str:
    """A sale at the web till paid with the card: look it up, then apply it. Returns the receipt page."""
    till = stack.visitor()
    till.sign_in(STAFF["corner-cafe"])
    fields = hidden_fields(till.get("/till/").text)
    looked_up = till.http.post(f"{stack.url}/till/lookup", data={**fields, "total": total, "code": code}, timeout=30)
    assert looked_up.status_code == 200 and "Apply" in looked_up.text, looked_up.text
    paid = till.http.post(f"{stack.url}/till/apply", data={**hidden_fields(looked_up.text), "amount": total}, timeout=30)
    assert paid.status_code == 200 and "Card payment taken" in paid.text, paid.text
    return paid.text


def test_no_channel_leaves_a_full_code_in_the_access_log_the_error_log_the_outbox_or_a_dump(
    pg_app, pg_url, redis_url, tmp_path
):
    """Every way a code comes in (API look-up, redeem, load and history; the public balance check; a
    customer's redeem; the till's look-up and payment; a coupon made over the API; guesses up to a
    lock-out; an old client putting a code in a URL): is any of them, in any spelling, in gunicorn's
    access or error log, an e-mail, or pg_dump?"""
    seed_people(pg_app)
    staff, cara = STAFF["corner-cafe"], CUSTOMERS[0]
    used: list[str] = []
    with serve_gunicorn(pg_url, redis_url, logs=str(tmp_path)) as url:
        stack = Stack(url, pg_app)
        issue = lambda **more: stack.api(staff, "POST", "/cards", json={"amount": "30.00", **more}).json()  # noqa: E731
        api_card, owned, for_wallet, for_till = issue(), issue(owner_email=cara), issue(), issue()
        used += [card["code"] for card in (api_card, owned, for_wallet, for_till)]

        # The API: look-up, redeem by code and by id, load, history.
        code = api_card["code"]
        card_id = stack.api(staff, "POST", "/cards/lookup", json={"code": code}).json()["id"]
        assert stack.api(staff, "POST", "/cards/redeem", json={"code": code, "amount": "1.00"}).status_code == 200
        assert stack.api(staff, "POST", f"/cards/{card_id}/redeem", json={"amount": "1.00"}).status_code == 200
        assert stack.api(staff, "POST", f"/cards/{card_id}/load", json={"amount": "2.00"}).status_code == 200
        assert stack.api(staff, "GET", f"/cards/{card_id}/transactions").status_code == 200
        # An old client with the code in the URL: refused, and our own access log keeps it masked.
        assert stack.api(staff, "GET", f"/cards/{code}/transactions").status_code == 410
        # The pages: the public balance check, a customer's redeem, the till.
        assert "30.00" in stack.visitor().submit("/balance", {"code": owned["code"]}).text
        customer = stack.visitor()
        customer.sign_in(cara)
        assert customer.submit("/wallet/redeem", {"code": for_wallet["code"]}).status_code == 303  # to the card
        till_sale(stack, for_till["code"], "5.00")
        # A coupon made over the API without a name, then used at a till over the API.
        coupon = {"code": "SPRINGSAVE15", "discount_type": "percent", "discount_value": "15", "max_uses": 5}
        assert stack.api(ADMIN, "POST", "/coupons", json=coupon).status_code == 201
        used.append(coupon["code"])
        validated = stack.api(staff, "POST", "/coupons/validate", json={"code": "springsave15", "order_total": "40.00"})
        assert validated.json()["discount"] == "6.00"
        # Guesses until the till is locked out: a security event is recorded.
        guesses = [generate_card_code() for _ in range(11)]
        answers = [stack.api(staff, "POST", "/cards/lookup", json={"code": guess}).status_code for guess in guesses]
        assert answers[-1] == 429
        used += guesses

    with make_app(pg_url, OUTBOX_DIR=str(tmp_path / "outbox")).app_context():  # the e-mails, as .eml files
        ids = db.session.scalars(db.select(OutboxMessage.id)).all()
        deliver_batch(ids=ids, limit=len(ids), last_attempt=True)
        db.session.remove()
        db.engine.dispose()
    mails = "\n".join(path.read_text(errors="replace") for path in (tmp_path / "outbox").glob("*.eml"))
    access_log = Path(tmp_path / "access.log").read_text(errors="replace")
    error_log = Path(tmp_path / "error.log").read_text(errors="replace")
    dump = pg_dump(pg_url)
    assert "POST /api/v1/cards/lookup" in access_log and "/cards/GC-••••-••••-••••-" in access_log
    assert mails and "code_guessing_locked" in dump and "Coupon 15% off" in dump
    for where, text in {"access log": access_log, "error log": error_log, "outbox": mails, "pg_dump": dump}.items():
        for code in used:
            found = [spelling for spelling in spellings(code) if spelling in text]
            assert not found, f"{found[0]} is in the {where}"
