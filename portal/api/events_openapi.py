"""The events endpoint's part of the OpenAPI document, merged into it by portal/api/openapi.py."""

from __future__ import annotations

from portal.api.openapi import BOOL, ID, NEXT_CURSOR, TEXT, TIMESTAMP, json_response, nullable, obj, operation, ref
from portal.events.catalogue import EVENT_TYPES
from portal.events.ordering import MAX_LIMIT

EVENT_TAG = {
    "name": "Events",
    "description": (
        "What happened, in commit order, for programs that pull rather than receive webhooks. Events are kept for "
        "30 days (`EVENT_RETENTION_DAYS`): pull at least that often. Webhook bodies are "
        "the same Event (without `sequence`), signed in the `Giftloop-Signature` header: `t=<unix time>,v1=<hex "
        "HMAC-SHA256 of \"<t>.<body>\" under the endpoint's secret>`."
    ),
}

EVENT_SCHEMAS = {
    "Event": obj(
        {
            "id": {"type": "string", "pattern": "^evt_[0-9]+$", "description": "Stable: de-duplicate on it"},
            "object": {"const": "event"},
            "api_version": TEXT,
            "type": {"type": "string", "enum": list(EVENT_TYPES)},
            "created": TIMESTAMP,
            "merchant_id": nullable({**ID, "description": "The merchant the event belongs to"}),
            "sequence": {**ID, "description": "Commit order; pass the last one you have as `after` to resume"},
            "data": {
                "type": "object",
                "description": (
                    "Ids, amounts as strings and masked codes. A ledger event has transaction_id, kind, amount "
                    "(signed), currency, balance, account, card {id, code_masked, currency, merchant_id}, "
                    "customer_id, merchant_id, reference and reverses_id."
                ),
            },
        },
        ("id", "object", "api_version", "type", "created", "merchant_id", "sequence", "data"),
        description="Something that happened to a card, a coupon, a code, a gift or a campaign",
    ),
}
EVENT_SCHEMAS["EventPage"] = obj(
    {
        "events": {"type": "array", "items": ref("Event"), "maxItems": MAX_LIMIT},
        "next_after": {"type": "integer", "minimum": 0, "description": "The `after` of the next call"},
        "has_more": BOOL,
        "next_cursor": NEXT_CURSOR,
    },
    ("events", "next_after", "has_more", "next_cursor"),
)

EVENT_PARAMETERS = {
    "After": {
        "name": "after", "in": "query", "required": False,
        "description": "The sequence number of the last event you have (0 or none: from the first); `cursor` is the same as every list spells it",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Limit": {
        "name": "limit", "in": "query", "required": False,
        "description": f"How many events at most (1 to {MAX_LIMIT}, 100 if not given)",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    },
}

EVENT_PATHS = {
    "/events": {
        "get": operation(
            "events_list", "Events after a sequence number, in commit order", "Events", ("merchant", "admin"),
            (200, json_response("Up to `limit` events, oldest first", ref("EventPage"))),
            (401, 403, 422), params=("Cursor", "After", "Limit"),
            description=(
                "A merchant's token sees its own events, an admin's every event. An event is listed once it is "
                "committed, after every event committed before it, so resuming after the last sequence number "
                "seen never misses one."
            ),
        ),
    },
}
