"""Holds on the pages (issue 27): the customer's card page and the till's card panel show what is
held and what is available, and the till cannot take held money."""

from __future__ import annotations

from portal.cards.holds import place_hold, release_hold
from portal.extensions import db
from portal.ledger import Actor
from portal.models import GiftCard
from portal.money import Money
from tests.factories import issue, merchant_by_slug, new_key
from tests.pages import HTMX, text


def hold_at_cafe(app, card_id: int, amount: str) -> int:
    """A hold placed by corner-cafe's till, as the API would place it; its id."""
    with app.app_context():
        cafe = merchant_by_slug("corner-cafe")
        hold = place_hold(
            db.session, db.session.get(GiftCard, card_id), Money.parse(amount, "USD"),
            actor=Actor(merchant_id=cafe.id), idempotency_key=f"test-hold:{new_key()}", merchant=cafe,
        )
        db.session.commit()
        return hold.id


def release_at_cafe(app, hold_id: int) -> None:
    with app.app_context():
        cafe = merchant_by_slug("corner-cafe")
        release_hold(db.session, hold_id, actor=Actor(merchant_id=cafe.id), idempotency_key=f"test-release:{new_key()}",
                     merchant=cafe)
        db.session.commit()


def test_the_card_page_shows_what_is_held_and_what_is_available(app, client, cara):
    """Does the owner see the whole balance, the held part and the rest available, live?"""
    card_id, _ = issue(app, owner=cara, amount="25.00")
    first = client.get(f"/wallet/cards/{card_id}/balance", headers=HTMX)
    assert "held" not in text(first)
    hold_id = hold_at_cafe(app, card_id, "10.00")
    page = text(client.get(f"/wallet/cards/{card_id}"))
    assert "25.00 USD" in page
    assert "10.00 USD held for a purchase not yet complete · 15.00 USD available" in page
    changed = client.get(f"/wallet/cards/{card_id}/balance", headers={**HTMX, "If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and "15.00 USD available" in text(changed)
    release_at_cafe(app, hold_id)
    after = client.get(f"/wallet/cards/{card_id}/balance", headers={**HTMX, "If-None-Match": changed.headers["ETag"]})
    assert after.status_code == 200 and "held" not in text(after) and "25.00 USD" in text(after)


def test_the_till_panel_shows_held_and_available_and_applies_only_what_is_available(app, till):
    card_id, code = issue(app, amount="25.00")
    hold_at_cafe(app, card_id, "10.00")
    till.open()
    till.look_up(code, total="20.00")
    panel = text(till.response)
    assert "Balance 25.00 USD" in panel and "Held 10.00 USD" in panel and "Available 15.00 USD" in panel
    till.apply("20.00")
    assert "This card holds 15.00 USD; 20.00 USD is more than that" in text(till.response)
    with app.app_context():
        assert db.session.get(GiftCard, card_id).account.balance == 1500


def test_the_wallet_lists_a_card_with_its_whole_balance_and_what_is_held(app, client, cara):
    card_id, _ = issue(app, owner=cara, amount="25.00")
    hold_at_cafe(app, card_id, "10.00")
    words = text(client.get("/wallet/"))
    assert "25.00 USD" in words and "10.00 USD held, 15.00 USD available" in words


def test_the_admin_card_page_shows_what_is_held(app, client, auth, people):
    card_id, _ = issue(app, amount="25.00")
    hold_at_cafe(app, card_id, "10.00")
    auth.login(people["admin"])
    words = text(client.get(f"/admin/cards/{card_id}"))
    assert "Balance 25.00 USD" in words
    assert "Held 10.00 USD for sales not yet complete" in words and "Available 15.00 USD" in words
