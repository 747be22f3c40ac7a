"""No issued code can be read out of a database dump or the application's logs (DESIGN §2, Codes)."""

from __future__ import annotations

import logging
import subprocess
import uuid

import pytest

from portal.api.tokens import create_token
from portal.auth.users import create_user
from portal.extensions import db
from portal.merchants import create_merchant
from portal.models import GiftCard
from portal.services import services

pytestmark = pytest.mark.postgres


def spellings(code: str) -> set[str]:
    """The ways a code could sit in a dump: as shown, without dashes, lower case."""
    compact = code.replace("-", "")
    return {code, compact, code.lower(), compact.lower(), compact[2:]}


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
            assert client.post(f"/api/v1/cards/{code}/redeem", json={"amount": "5.00"}, headers=headers()).status_code == 200
            assert client.get(f"/api/v1/cards/{code}", headers=headers()).status_code == 200
        # Cara claims the bearer card: it gets a new code, mailed to her (encrypted in the outbox).
        claimed = client.post(
            "/api/v1/me/redeem", json={"code": codes[0]}, headers={**headers(), "Authorization": f"Bearer {caras}"}
        )
        assert claimed.status_code == 200, claimed.json
        with pg_app.app_context():
            card = db.session.get(GiftCard, claimed.json["card"]["id"])
            codes.append(services().vault.decrypt(card.code.ciphertext))
        assert client.post(f"/api/v1/cards/{codes[-1]}/redeem", json={"amount": "5.00"}, headers=headers()).status_code == 200
    dump = subprocess.run(
        ["pg_dump", "--data-only", pg_url.replace("postgresql+psycopg://", "postgresql://")],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "gift_cards" in dump and "codes" in dump
    logs = "\n".join(record.getMessage() for record in caplog.records)
    for code in codes:
        for spelling in spellings(code):
            assert spelling not in dump, "a code is stored in clear"
            assert spelling not in logs, "a code reached the logs"
