"""Events for programs that prefer to pull (issue 11): in commit order, resumable after the last seen."""

from __future__ import annotations

from flask import g, request

from portal.api import bp
from portal.events.ordering import assign_positions, cursor, events_after, page_size
from portal.events.payloads import envelope
from portal.extensions import db
from portal.web.guards import roles


@bp.get("/events")
@roles("merchant", "admin")
def events_list():
    """Events after ``after`` (a sequence number), oldest first: a merchant's own, every one for an admin."""
    after, limit = cursor(request.args.get("after")), page_size(request.args.get("limit"))
    assign_positions(db.session)
    db.session.commit()
    user = g.api_token.user
    found = events_after(db.session, after, limit=limit + 1, merchant_id=None if user.is_admin else user.merchant_id)
    events = [{**envelope(event), "sequence": event.position} for event in found[:limit]]
    return {"events": events, "next_after": events[-1]["sequence"] if events else after, "has_more": len(found) > limit}
