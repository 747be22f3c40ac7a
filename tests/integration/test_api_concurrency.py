"""Money under load through the real stack: gunicorn with 4 workers, PostgreSQL, Redis."""

from __future__ import annotations

from collections import Counter

import pytest
import requests

from portal.auth.users import create_user
from portal.cards import operations
from portal.extensions import db
from portal.ledger import Actor, verify
from portal.merchants import create_merchant
from portal.models import Transaction
from portal.money import Money
from portal.services import services
from portal.tokens import create_token
from tests.concurrency import together

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def till(pg_app):
    """A merchant's staff token and a 10.00 card, committed to PostgreSQL."""
    with pg_app.app_context():
        cafe = create_merchant(db.session, "corner-cafe", "Corner Café")
        staff = create_user(db.session, "staff@example.com", "a long password", role="merchant", merchant=cafe)
        _, token = create_token(db.session, staff, "till")
        issued = operations.issue_card(
            db.session, services().vault, amount=Money.parse("10.00", "USD"), actor=Actor(), idempotency_key="seed"
        )
        db.session.commit()
        return token, issued.code, issued.card.id


def ledger_state(pg_app, card_id):
    with pg_app.app_context():
        from portal.models import GiftCard

        card = db.session.get(GiftCard, card_id)
        redeemed = db.session.scalar(
            db.select(db.func.count(Transaction.id)).where(Transaction.card_id == card_id, Transaction.kind == "redeem")
        )
        return card.account.balance, redeemed, verify(db.session)


def test_fifty_tills_at_once_cannot_overdraw_a_card(pg_app, gunicorn_server, till):
    """50 simultaneous redemptions of 1.00 from a 10.00 card, by its id on any worker after one look-up:
    exactly 10 succeed, 40 are refused."""
    token, code, card_id = till
    looked_up = requests.post(f"{gunicorn_server}/api/v1/cards/lookup", json={"code": code},
                              headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert looked_up.json()["id"] == card_id

    def redeem(session, i):
        return session.post(
            f"{gunicorn_server}/api/v1/cards/{card_id}/redeem",
            json={"amount": "1.00"},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"sale-{i}"},
            timeout=30,
        )

    answers = together(50, redeem)
    outcome = Counter((a.status_code, a.json().get("code")) for a in answers)
    assert outcome == {(200, None): 10, (422, "insufficient_funds"): 40}
    assert ledger_state(pg_app, card_id) == (0, 10, [])


def test_one_key_sent_by_ten_clients_at_once_charges_once(pg_app, gunicorn_server, till):
    """The same Idempotency-Key from 10 clients at once: one charge; the rest replay or wait (409)."""
    token, code, card_id = till

    def redeem(session, i):
        return session.post(
            f"{gunicorn_server}/api/v1/cards/redeem",
            json={"code": code, "amount": "2.50"},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "the-one-key"},
            timeout=30,
        )

    answers = together(10, redeem)
    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {200, 409} and statuses[200] >= 1
    assert all(a.headers["Retry-After"] == "1" for a in answers if a.status_code == 409)
    assert len({a.content for a in answers if a.status_code == 200}) == 1
    assert ledger_state(pg_app, card_id) == (750, 1, [])
    # Once the first has finished, a retry gets its answer.
    retry = requests.post(
        f"{gunicorn_server}/api/v1/cards/redeem", json={"code": code, "amount": "2.50"},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "the-one-key"}, timeout=30,
    )
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
