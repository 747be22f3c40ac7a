"""Today's activity at the till, undoing from it, and what staff of another store can see."""

from __future__ import annotations

import re
from datetime import timedelta

from portal.extensions import db
from portal.models import Transaction
from tests.conftest import AuthActions
from tests.factories import add_merchant, make_card
from tests.pages import Till, pay, text
from tests.reads import balance, count


def test_todays_activity_lists_payments_and_refreshes_itself(app, till):
    """Does the activity page list today's payment, and does its fragment poll for itself?"""
    code = make_card(app, "10.00")
    number = pay(till, code, "4.00")
    page = till.client.get("/till/activity").get_data(as_text=True)
    words = text(page)
    assert "Today's activity" in words
    assert "Card payment #%d" % number in words and "4.00 USD" in words and "Sam" in words
    assert f"/till/transactions/{number}/undo" in page
    fragment = till.client.get("/till/activity", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment
    assert 'hx-trigger="every 10s"' in fragment and 'hx-get="/till/activity"' in fragment


def test_an_undo_from_the_activity_needs_a_reason_and_restores_the_balance(app, till):
    """Does the undo page refuse a blank reason, then undo, say so and mark the row undone?"""
    code = make_card(app, "10.00")
    number = pay(till, code, "4.00")
    till.open(f"/till/transactions/{number}/undo")
    assert "Why undo it?" in text(till.html)
    action = f"/till/transactions/{number}/undo"
    response = till.send(action, **{f"undo-{number}-reason": ""})
    assert response.status_code == 422 and "Please give a reason" in text(till.html)
    assert balance(app, code) == "6.00"

    fields = {**till.form(action).fields, f"undo-{number}-reason": "Rang up the wrong card"}
    response = till.client.post(action, data=fields)
    assert response.status_code == 303 and response.headers["Location"].endswith("/till/activity")
    page = till.client.get("/till/activity").get_data(as_text=True)
    assert f"Transaction #{number} was undone." in text(page)
    assert "undone" in text(page) and f"/till/transactions/{number}/undo" not in page
    assert balance(app, code) == "10.00"
    # The same form again (a reload, a double click) undoes once.
    assert till.client.post(action, data=fields).status_code == 303
    assert count(app, "reverse") == 1 and balance(app, code) == "10.00"


def test_yesterdays_transactions_go_to_an_admin(app, till):
    """Are transactions from before today shown as "ask an admin", and an undo refused with nothing changed?"""
    code = make_card(app, "10.00")
    number = pay(till, code, "4.00")
    with app.app_context():
        made = db.session.get(Transaction, number)
        made.created_at -= timedelta(days=1)  # a test's time machine; the app never updates a transaction
        db.session.commit()
    till.open(f"/till/transactions/{number}/undo")
    assert "can only be undone by an admin: ask an admin" in text(till.html)
    assert not [f for f in re.findall(r'<form[^>]*action="([^"]+)"', till.html) if f.endswith("/undo")]
    fields = {"csrf_token": till.form("/signout").fields["csrf_token"], f"undo-{number}-key": "a" * 32,
              f"undo-{number}-reason": "Too late"}
    response = till.client.post(f"/till/transactions/{number}/undo", data=fields)
    assert response.status_code == 422
    assert "Transactions from before today can only be undone by an admin" in text(response.get_data(as_text=True))
    assert balance(app, code) == "6.00" and count(app, "reverse") == 0
    yesterday = till.client.get("/till/activity?day=" + (today(app) - timedelta(days=1)).isoformat()).get_data(as_text=True)
    assert "Ask an admin to undo" in text(yesterday)


def today(app):
    from portal.models import utcnow

    return utcnow().date()


def test_staff_of_another_store_cannot_see_or_undo_this_stores_transactions(app, till):
    """Does Book Nook's staff get 404 for Corner Café's transaction, see none of its activity, and change nothing?"""
    code = make_card(app, "10.00")
    number = pay(till, code, "4.00")
    add_merchant(app, "book-nook", "Book Nook", staff="books@example.com")
    other = Till(app.test_client())
    AuthActions(other.client).login("books@example.com")
    other.open("/till/activity")
    assert f"#{number}" not in text(other.html) and "Nothing yet today" in text(other.html)
    assert other.client.get(f"/till/transactions/{number}/undo").status_code == 404
    fields = {"csrf_token": other.form("/signout").fields["csrf_token"], f"undo-{number}-key": "b" * 32,
              f"undo-{number}-reason": "Not mine"}
    assert other.client.post(f"/till/transactions/{number}/undo", data=fields).status_code == 404
    assert balance(app, code) == "6.00" and count(app, "reverse") == 0
    reports = other.client.get("/till/reports").get_data(as_text=True)
    assert "No transactions in this period" in text(reports)


def test_an_undo_is_not_itself_undoable(app, till):
    """Does the reversal row offer no undo of its own?"""
    code = make_card(app, "10.00")
    number = pay(till, code, "4.00")
    till.open(f"/till/transactions/{number}/undo")
    till.htmx = False
    till.send(f"/till/transactions/{number}/undo", **{f"undo-{number}-reason": "Mistake"})
    page = till.client.get("/till/activity").get_data(as_text=True)
    undo_links = re.findall(r"/till/transactions/(\d+)/undo", page)
    assert undo_links == []


def test_undo_is_not_offered_for_a_payment_that_cannot_be_undone(app, till):
    """The card was cancelled after paying: undo would be refused, so the activity offers none and says why on its page."""
    import sqlalchemy as sa

    from portal.models import GiftCard

    code = make_card(app, "10.00")
    number = pay(till, code, "4.00")
    with app.app_context():
        db.session.execute(sa.update(GiftCard).values(status="cancelled"))
        db.session.commit()
    page = till.client.get("/till/activity").get_data(as_text=True)
    assert f"Card payment #{number}" in text(page) and f"/till/transactions/{number}/undo" not in page
