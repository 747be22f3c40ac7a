"""Events for programs that prefer to pull (issue 11): in commit order, resumable after the last seen."""

from __future__ import annotations

from flask import g, request

from portal.api import bp
from portal.api.paging import decode_cursor, next_cursor
from portal.events.ordering import assign_positions, cursor, events_after, page_size
from portal.events.payloads import envelope
from portal.errors import ValidationError
from portal.extensions import db
from portal.web.guards import roles


@bp.get("/events")
@roles("merchant", "admin")
def events_list():
    """Events after ``cursor`` (or ``after``, a sequence number), oldest first: a merchant's own, every one for
    an admin."""
    after, limit = _after(), page_size(request.args.get("limit"))
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


def _after() -> int:
    """The position to read after: the cursor's, as every list pages, or ``after``, which came first."""
    if "cursor" in request.args:
        if "after" in request.args:
            raise ValidationError("Give cursor or after, not both", field="after")
        (position,) = decode_cursor(request.args["cursor"], length=1)
        return position
    return cursor(request.args.get("after"))
