"""A code look-up's Redis writes (the guess given back, the card granted to the till) go in one
round trip at the end of the request (issue 24); what they mean is unchanged: on two app
processes sharing Redis the till names the card by id on the other, and successful look-ups
never add up to a lock-out."""

from __future__ import annotations

import uuid

import pytest

from portal.auth.users import create_user
from portal.cards import operations
from portal.extensions import db
from portal.ledger import Actor
from portal.merchants import create_merchant
from portal.money import Money
from portal.services import services
from portal.tokens import create_token
from tests.conftest import make_app

pytestmark = pytest.mark.redis


@pytest.fixture
def two_processes(tmp_path, redis_url):
    """Two app servers on one SQLite file and one Redis (a guessing limit of 3), a till's token and a card's code."""
    apps = [
        make_app(f"sqlite:///{tmp_path / 'shared.db'}", REDIS_URL=redis_url, GUESS_LIMIT=3, OUTBOX_DIR=str(tmp_path))
        for _ in range(2)
    ]
    with apps[0].app_context():
        db.create_all()
        cafe = create_merchant(db.session, "corner-cafe", "Corner Café")
        staff = create_user(db.session, "till@corner-cafe.test", "till password 1", role="merchant", merchant=cafe)
        token = create_token(db.session, staff, "till")[1]
        code = operations.issue_card(
            db.session, services().vault, amount=Money.parse("20.00", "USD"), actor=Actor(), idempotency_key="c1",
        ).code
        db.session.commit()
    yield apps, token, code
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def _post(app, token: str, path: str, body: dict):
    return app.test_client().post(
        f"/api/v1{path}", json=body,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
    )


def test_a_look_up_on_one_process_lets_the_till_pay_by_id_on_the_other(two_processes):
    (first, second), token, code = two_processes
    card_id = _post(first, token, "/cards/lookup", {"code": code}).json["id"]
    paid = _post(second, token, f"/cards/{card_id}/redeem", {"amount": "2.50"})
    assert paid.status_code == 200 and paid.json["card"]["balance"] == "17.50"


def test_many_good_look_ups_never_lock_a_till_out_but_misses_still_do(two_processes):
    (first, second), token, code = two_processes
    for n in range(8):  # more than the limit of 3, alternating processes
        assert _post((first, second)[n % 2], token, "/cards/lookup", {"code": code}).status_code == 200
    misses = [_post(first, token, "/cards/lookup", {"code": "GC-0000-0000-0000-0000-0"}).status_code for _ in range(5)]
    assert 429 in misses and _post(second, token, "/cards/lookup", {"code": code}).status_code == 429
