"""Pulling events (issue 11): ``GET /api/v1/events?after=…`` in commit order, resumable, scoped by
merchant, refusing bad cursors, and answering as the OpenAPI document says."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from portal.cards import operations
from portal.extensions import db
from portal.ledger import Actor
from portal.models import Event, Merchant
from portal.money import Money
from portal.services import services


def sell(app, slug: str | None, amount: str = "10.00") -> None:
    """A card sold (and scoped) at a merchant, or by an admin with no merchant."""
    with app.app_context():
        merchant = db.session.scalar(sa.select(Merchant).where(Merchant.slug == slug)) if slug else None
        operations.issue_card(
            db.session, services().vault, amount=Money.parse(amount, merchant.currency if merchant else "USD"),
            actor=Actor(), idempotency_key=str(uuid.uuid4()), merchant=merchant,
        )
        db.session.commit()


def pull(api, after=None, limit=None, role="merchant"):
    query = "&".join(f"{k}={v}" for k, v in (("after", after), ("limit", limit)) if v is not None)
    return api.get(f"/events?{query}", role=role)


def test_a_merchant_pulls_its_own_events_and_an_admin_every_one(app, api):
    sell(app, "corner-cafe")
    sell(app, "book-nook")
    sell(app, None)
    mine = pull(api).json
    assert [e["data"]["card"]["merchant_id"] for e in mine["events"]] == [1]
    assert mine["has_more"] is False and mine["next_after"] == mine["events"][-1]["sequence"]
    everything = pull(api, role="admin").json["events"]
    assert [e["type"] for e in everything] == ["card.issued"] * 3
    assert [e["sequence"] for e in everything] == [1, 2, 3]
    assert pull(api, role="customer").status_code == 403


def test_resuming_after_the_last_sequence_gives_the_rest_in_pages(app, api):
    for _ in range(5):
        sell(app, None)
    first = pull(api, limit=2, role="admin").json
    assert [e["sequence"] for e in first["events"]] == [1, 2] and first["has_more"] is True
    second = pull(api, after=first["next_after"], limit=2, role="admin").json
    third = pull(api, after=second["next_after"], limit=2, role="admin").json
    assert [e["sequence"] for e in second["events"] + third["events"]] == [3, 4, 5]
    assert third["has_more"] is False
    again = pull(api, after=third["next_after"], role="admin").json
    assert again == {"events": [], "next_after": 5, "has_more": False, "next_cursor": None}


def test_events_get_their_sequence_in_the_order_they_became_visible(app, api):
    """An event committed late (a low id) comes after those already handed out, not before them."""
    sell(app, None)
    sell(app, None)
    with app.app_context():
        # As if the transaction of event 1 had committed only now, after event 2 was pulled.
        db.session.execute(sa.update(Event).where(Event.id == 1).values(position=None))
        db.session.execute(sa.update(Event).where(Event.id == 2).values(position=1))
        db.session.commit()
    body = pull(api, after=1, role="admin").json
    assert [(e["id"], e["sequence"]) for e in body["events"]] == [("evt_1", 2)]


def test_a_bad_cursor_or_limit_is_refused_with_its_field(app, api):
    for query, field in (({"after": "-1"}, "after"), ({"after": "ten"}, "after"), ({"limit": "0"}, "limit"),
                         ({"limit": "501"}, "limit")):
        response = pull(api, role="admin", **query)
        assert response.status_code == 422 and response.json["field"] == field, query


def test_the_events_endpoint_answers_as_documented(app, api, contract):
    sell(app, "corner-cafe")
    c = contract
    for role, status in ((None, 401), ("customer", 403), ("merchant", 200), ("admin", 200)):
        headers = {"Authorization": f"Bearer {c.tokens[role]}"} if role else {}
        c.check(c.client.get("/api/v1/events?limit=10", headers=headers), "GET", "/events")
        assert (role, c.client.get("/api/v1/events", headers=headers).status_code) == (role, status)
    refused = c.client.get("/api/v1/events?after=x", headers={"Authorization": f"Bearer {c.tokens['admin']}"})
    c.check(refused, "GET", "/events")
    c.past_the_rate_limit("/events")
    c.with_a_nul_character("/events")
    c.with_an_unknown_query_parameter("/events")
    assert c.seen >= c.documented("/events")


def test_events_page_with_a_cursor_as_every_list_does(app, api):
    """next_cursor leads to the same page as next_after; a cursor and after together are refused."""
    for _ in range(3):
        sell(app, None)
    first = api.get("/events?limit=1", role="admin").json
    assert first["has_more"] and first["next_cursor"]
    by_cursor = api.get(f"/events?limit=1&cursor={first['next_cursor']}", role="admin").json
    by_after = api.get(f"/events?limit=1&after={first['next_after']}", role="admin").json
    assert by_cursor["events"] == by_after["events"] and by_cursor["events"][0]["sequence"] > first["next_after"]
    both = api.get(f"/events?cursor={first['next_cursor']}&after=0", role="admin")
    assert (both.status_code, both.json["field"]) == (422, "after")
