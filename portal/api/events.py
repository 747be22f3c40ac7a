"""Events for programs that prefer to pull (issue 11): in commit order, resumable after the last seen."""

from __future__ import annotations

from flask import g

from portal.api import bp
from portal.api.contract import operation
from portal.api.models.events import EventPage, EventsQuery
from portal.api.paging import decode_cursor, next_cursor
from portal.errors import ValidationError
from portal.events.ordering import assign_positions, events_after
from portal.events.payloads import envelope
from portal.extensions import db
from portal.web.guards import roles


@bp.get("/events")
@roles("merchant", "admin")
@operation("Events", EventPage)
def events_list(query: EventsQuery):
    """Events after a sequence number, in commit order

    After `cursor` (or `after`, a sequence number), oldest first: a merchant's token sees its own events, an
    admin's every event. An event is listed once it is committed, after every event committed before it, so
    resuming after the last sequence number seen never misses one.
    """
    after, limit = _after(query), query.limit
    assign_positions(db.session)
    db.session.commit()
    user = g.api_token.user
    found = events_after(db.session, after, limit=limit + 1, merchant_id=None if user.is_admin else user.merchant_id)
    events = [{**envelope(event), "sequence": event.position} for event in found[:limit]]
    more = len(found) > limit
    return {
        "events": events,
        "next_after": events[-1]["sequence"] if events else after,
        "has_more": more,
        "next_cursor": next_cursor((events[-1]["sequence"],)) if more else None,
    }


def _after(query: EventsQuery) -> int:
    """The position to read after: the cursor's, as every list pages, or ``after``, which came first."""
    if query.cursor is not None:
        if query.after is not None:
            raise ValidationError("Give cursor or after, not both", field="after")
        (position,) = decode_cursor(query.cursor, length=1)
        return position
    return query.after or 0
