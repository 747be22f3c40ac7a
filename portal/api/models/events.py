"""Events for programs that pull: in commit order, resumable after the last seen."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from portal.api.models import Answer, Id, Query, Timestamp
from portal.api.models.paging import Cursor, NextCursor
from portal.events.catalogue import EVENT_TYPES
from portal.events.ordering import MAX_LIMIT


class EventsQuery(Query):
    cursor: Cursor = None
    after: int | None = Field(None, ge=0, le=10**18 - 1, description=(
        "The sequence number of the last event you have (0 or none: from the first); `cursor` is the same as every "
        "list spells it"
    ))
    limit: int = Field(100, ge=1, le=MAX_LIMIT, description=f"How many events at most (1 to {MAX_LIMIT}, 100 if not given)")


class Event(Answer):
    """Something that happened to a card, a coupon, a code, a gift or a campaign"""

    id: str = Field(pattern="^evt_[0-9]+$", description="Stable: de-duplicate on it")
    object: Literal["event"]
    api_version: str
    type: Literal[tuple(EVENT_TYPES)]
    created: Timestamp
    merchant_id: Id | None = Field(description="The merchant the event belongs to")
    sequence: Id = Field(description="Commit order; pass the last one you have as `after` to resume")
    data: dict[str, Any] = Field(description=(
        "Ids, amounts as strings and masked codes. A ledger event has transaction_id, kind, amount (signed), "
        "currency, balance, account, card {id, code_masked, currency, merchant_id}, customer_id, merchant_id, "
        "reference and reverses_id."
    ))


class EventPage(Answer):
    events: list[Event] = Field(max_length=MAX_LIMIT)
    next_after: int = Field(ge=0, description="The `after` of the next call")
    has_more: bool
    next_cursor: NextCursor
