"""Retries through the real stack (DESIGN §5): every money-moving API write, sent ten times under one
Idempotency-Key, moves money once and answers the same each time; the key with another body is a
conflict that changes nothing. (Two in flight at once: tests/integration/test_campaign_limits.py
and test_api_concurrency.py.)"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.campaigns.definitions import create_campaign, read_spec
from portal.extensions import db
from portal.ledger import SYSTEM, Actor
from portal.loyalty.points import earn
from portal.models import Merchant, Transaction, User
from portal.money import Money
from portal.services import services
from tests.security.conftest import CUSTOMERS, STAFF, database_state

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def writes(stack):
    """(who, path, body, other body) for each write that moves money or value."""
    _, code = stack.card("80.00")
    owned, _ = stack.card("15.00", owner=CUSTOMERS[0])
    with stack.app.app_context():
        create_campaign(db.session, services().vault, read_spec(db.session, {
            "name": "Credit", "kind": "credit", "currency": "USD", "value": "3.00", "code_mode": "vanity",
            "code": "AGAIN"}), actor=SYSTEM)
        cara = db.session.scalar(sa.select(User).where(User.email == CUSTOMERS[0]))
        cafe = db.session.scalar(sa.select(Merchant).where(Merchant.slug == "corner-cafe"))
        earn(db.session, cara, Money.parse("50.00", "USD"), cafe, actor=Actor(merchant_id=cafe.id), idempotency_key="loops")
        db.session.commit()
    staff = STAFF["corner-cafe"]
    card_id = stack.api(staff, "POST", "/cards/lookup", json={"code": code}).json()["id"]
    hold_id = stack.api(staff, "POST", "/holds", json={"card_id": card_id, "amount": "6.00"}).json()["id"]
    return [
        (staff, "/cards/redeem", {"code": code, "amount": "4.00"}, {"code": code, "amount": "5.00"}),
        (staff, f"/cards/{card_id}/redeem", {"amount": "4.00"}, {"amount": "5.00"}),
        (staff, f"/cards/{card_id}/load", {"amount": "10.00"}, {"amount": "11.00"}),
        (staff, "/cards", {"amount": "25.00"}, {"amount": "26.00"}),
        (CUSTOMERS[0], "/me/redeem", {"code": "AGAIN"}, {"code": "AGAIN "}),
        (CUSTOMERS[0], "/me/points/convert", {"amount": "2.00", "currency": "USD"}, {"amount": "3.00", "currency": "USD"}),
        (CUSTOMERS[0], f"/me/cards/{owned}/transfer", {}, {"to_email": "dan@example.com"}),
        (staff, "/holds", {"code": code, "amount": "3.00"}, {"code": code, "amount": "3.50"}),
        (staff, f"/holds/{hold_id}/capture", {"amount": "5.00"}, {"amount": "4.00"}),
    ]


@pytest.mark.usefixtures("payment_path")
def test_ten_sends_of_one_key_move_money_once_and_answer_alike_on_every_write(stack, writes):
    for who, path, body, other in writes:
        before = stack.count(Transaction)
        answers = [stack.api(who, "POST", path, json=body, key=f"retry {path}") for _ in range(10)]
        assert len({(a.status_code, a.content) for a in answers}) == 1, path
        assert answers[0].status_code in (200, 201), (path, answers[0].text)
        assert [a.headers.get("Idempotent-Replayed") for a in answers[1:]] == ["true"] * 9, path
        assert stack.count(Transaction) - before <= 1, path
        unchanged = database_state(stack.app)
        conflict = stack.api(who, "POST", path, json=other, key=f"retry {path}")
        assert conflict.status_code == 422 and conflict.json()["code"] == "idempotency_conflict", path
        assert database_state(stack.app) == unchanged, path
    assert stack.verify() == []
