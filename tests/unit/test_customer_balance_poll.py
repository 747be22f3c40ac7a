"""The card page's live-balance poll: cheap while nothing changed, fresh as soon as anything did."""

from __future__ import annotations

import sqlalchemy as sa

from portal.extensions import db
from tests.conftest import submit
from tests.factories import add_customer, freeze_card, issue
from tests.pages import HTMX, text


def poll(client, card_id: int, etag: str | None = None):
    headers = {**HTMX, "If-None-Match": etag} if etag else HTMX
    return client.get(f"/wallet/cards/{card_id}/balance", headers=headers)


def test_an_unchanged_balance_is_answered_304_with_one_statement_besides_the_sign_in(app, client, cara):
    """Does a poll that finds nothing new ask the database once for the card (plus once for the user)?"""
    card_id, _ = issue(app, owner=cara, amount="25.00")
    etag = poll(client, card_id).headers["ETag"]
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        answer = poll(client, card_id, etag)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert answer.status_code == 304 and answer.headers["ETag"] == etag
    card_reads = [s for s in statements if "gift_cards" in s]
    assert len(card_reads) == 1, statements
    assert len(statements) <= 2, statements


def test_a_frozen_card_is_drawn_again_with_its_new_status(app, client, cara):
    """Does a change of status alone (the balance the same) end the 304s and show the new status?"""
    card_id, _ = issue(app, owner=cara, amount="25.00")
    etag = poll(client, card_id).headers["ETag"]
    freeze_card(app, card_id)
    changed = poll(client, card_id, etag)
    assert changed.status_code == 200
    assert "Frozen" in text(changed) and "25.00 USD" in text(changed)
    assert changed.headers["ETag"] != etag
    assert poll(client, card_id, changed.headers["ETag"]).status_code == 304


def test_a_card_waiting_for_a_friend_is_drawn_again_as_held(app, client, cara):
    """Does starting a transfer (balance unchanged) end the 304s and say the card waits for the friend?"""
    card_id, _ = issue(app, owner=cara, amount="25.00")
    etag = poll(client, card_id).headers["ETag"]
    given = submit(client, f"/wallet/cards/{card_id}/transfer", {"to_email": "friend@example.com"},
                   page=f"/wallet/cards/{card_id}")
    assert given.status_code == 200
    changed = poll(client, card_id, etag)
    assert changed.status_code == 200
    assert "Waiting for your friend" in text(changed)


def test_another_customers_card_is_404_even_with_its_current_etag(app, client, auth, cara):
    """Does knowing the owner's ETag get another customer anything but the 404 of a missing card?"""
    card_id, _ = issue(app, owner=cara, amount="25.00")
    etag = poll(client, card_id).headers["ETag"]
    add_customer(app, "other@example.com")
    auth.logout()
    auth.login("other@example.com")
    assert poll(client, card_id, etag).status_code == 404
    assert poll(client, card_id).status_code == 404


def test_a_poll_is_not_a_visit_it_keeps_the_session_as_it_was_while_a_page_slides_it(app, client, cara):
    """A customer's 30 days run from their last visit: an open card page's polls neither slide
    them nor re-sign the cookie; opening a page does, and the session still works after polls."""
    card_id, _ = issue(app, owner=cara, amount="25.00")
    assert "Set-Cookie" in client.get(f"/wallet/cards/{card_id}").headers  # a visit slides the session
    first = poll(client, card_id)
    again = poll(client, card_id, first.headers["ETag"])
    assert first.status_code == 200 and again.status_code == 304
    assert "Set-Cookie" not in first.headers and "Set-Cookie" not in again.headers
    assert client.get(f"/wallet/cards/{card_id}").status_code == 200  # still signed in


def test_a_static_file_never_sets_the_session_cookie(app, client, cara):
    """A script or stylesheet fetched while signed in carries no Set-Cookie: one still loading when
    "Sign out everywhere" answered would put the old session back and its page would say the
    wrong thing (Chromium caught it); a cookie on a static file also keeps caches from keeping it."""
    assert "Set-Cookie" in client.get("/wallet/").headers  # a visit slides the session
    for path in ("/static/js/portal.js", "/static/css/portal.css"):
        with client.get(path) as answer:
            assert answer.status_code == 200 and "Set-Cookie" not in answer.headers, path
