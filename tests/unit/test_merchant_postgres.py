"""The till on PostgreSQL: two tills on one card at the same instant, and reports by UTC day."""

from __future__ import annotations

import threading

import pytest

from portal.extensions import db
from portal.ledger import verify
from tests.conftest import PASSWORD, AuthActions
from tests.factories import make_card
from tests.pages import Till, text
from tests.reads import balance, count

pytestmark = pytest.mark.postgres


@pytest.fixture
def cafe(pg_app):
    """Corner Café with two staff members, on PostgreSQL."""
    from portal.auth.users import create_user
    from portal.merchants import create_merchant

    with pg_app.app_context():
        merchant = create_merchant(db.session, "corner-cafe", "Corner Café")
        for email in ("front@example.com", "back@example.com"):
            create_user(db.session, email, PASSWORD, role="merchant", merchant=merchant, name=email.split("@")[0])
        db.session.commit()
    return pg_app


def signed_in_till(app, email: str) -> Till:
    till = Till(app.test_client())
    AuthActions(till.client).login(email)
    till.open()
    return till


def test_two_tills_applying_one_card_at_the_same_instant_never_overdraw_it(cafe):
    """Both tills offer 7.00 from a 10.00 card: does exactly one succeed, the other get the reason?"""
    code = make_card(cafe, "10.00")
    tills = [signed_in_till(cafe, "front@example.com"), signed_in_till(cafe, "back@example.com")]
    for till in tills:
        till.look_up(code, total="7.00")
    barrier = threading.Barrier(2)
    answers: list = [None, None]

    def apply(i):
        fields = tills[i].form("/till/apply").fields
        barrier.wait()
        answers[i] = tills[i].client.post("/till/apply", data=fields, headers={"HX-Request": "true"})

    threads = [threading.Thread(target=apply, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 422]
    refused = next(answer for answer in answers if answer.status_code == 422)
    assert "This card holds 3.00 USD; 7.00 USD is more than that" in text(refused.get_data(as_text=True))
    assert balance(cafe, code) == "3.00" and count(cafe, "redeem") == 1
    with cafe.app_context():
        assert verify(db.session) == []


def test_reports_group_by_utc_day_on_postgresql(cafe):
    """Do the totals and the settlement read the same on PostgreSQL as on SQLite?"""
    till = signed_in_till(cafe, "front@example.com")
    till.look_up(make_card(cafe, "10.00"), total="4.00")
    till.apply()
    page = text(till.client.get("/till/reports").get_data(as_text=True))
    assert "Card payment 1 4.00 USD" in page and "Owed for this period: 4.00 USD" in page
    activity = text(till.client.get("/till/activity").get_data(as_text=True))
    assert "Card payment" in activity and "front" in activity
