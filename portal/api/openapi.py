"""The OpenAPI 3.1 document of the JSON API (DESIGN §5) and its reference page.

The document is Python data built from small pieces (schemas, parameters, responses) and served
as ``/api/v1/openapi.json``; ``/api/v1/docs`` renders the same data server-side. The contract
tests walk the URL map and drive every endpoint, so a route without documentation, or an answer
outside it, fails them.
"""

from __future__ import annotations

import json

from flask import current_app, jsonify, render_template, request
from markupsafe import Markup, escape

from portal.api import MAX_ID, bp
from portal.api.paging import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from portal.money import MAX_MAJOR
from portal.web.guards import public
from portal.web.problems import STATUS

# --- Small pieces ---------------------------------------------------------------------------


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    """The schema or null (a type list for plain types, anyOf for references)."""
    if "$ref" in schema or "type" not in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


def obj(properties: dict, required: tuple[str, ...] = (), *, closed: bool = True, **extra) -> dict:
    """An object schema; a closed one has no fields but the documented ones. Responses are closed, and so
    are request bodies: ``portal.api.strict`` refuses a field their schema does not name."""
    schema = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def extended(base: str, properties: dict, required: tuple[str, ...] = ()) -> dict:
    """A schema with every field of ``base`` and some more, and nothing else."""
    more = {"type": "object", "properties": properties}
    if required:
        more["required"] = list(required)
    return {"allOf": [ref(base), more], "unevaluatedProperties": False}


def _open(name: str) -> dict:
    """A component schema without its ``additionalProperties: false``, so it can be extended."""
    return {k: v for k, v in SCHEMAS[name].items() if k != "additionalProperties"}


TEXT = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
ID = {"type": "integer", "minimum": 1}
PATH_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
TIMESTAMP = {"type": "string", "format": "date-time", "description": "ISO 8601 in UTC, like 2026-11-23T14:00:00Z"}
AMOUNT_INPUT = {
    "description": (
        'More than zero and at most 1,000,000, as a string or a number with no more digits than the currency '
        'allows, like "12.50" or 12.5'
    ),
    "anyOf": [
        {"type": "string", "pattern": r"^[0-9]{1,7}(\.[0-9]{1,3})?$", "examples": ["12.50"]},
        {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_MAJOR},
    ],
}

# Every problem code the API answers with, and the HTTP status it comes with.
PROBLEM_CODES = list(STATUS)
MISSING_KEY_CODES = ["validation_error"]  # 400: no or too long Idempotency-Key


def codes_with(status: int) -> list[str]:
    if status == 400:
        return MISSING_KEY_CODES
    return [code for code, answer in STATUS.items() if answer == status]


SCHEMAS: dict[str, dict] = {
    "Money": {
        "type": "string",
        "pattern": r"^[0-9]+(\.[0-9]{1,3})?$",
        "description": 'An amount as a decimal string with the currency\'s digits: "12.50", "1500" (JPY)',
        "examples": ["12.50"],
    },
    "SignedMoney": {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]{1,3})?$",
        "description": "An amount moved: negative when value left the account",
        "examples": ["-12.50"],
    },
    "Currency": {
        "type": "string",
        "pattern": "^(?:[A-Z]{3}|LOOP)$",
        "description": "ISO 4217 code (LOOP for Loops)",
        "examples": ["USD"],
    },
    "Problem": obj(
        {
            "type": {"type": "string", "format": "uri"},
            "title": TEXT,
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "code": {"type": "string", "enum": PROBLEM_CODES, "description": "Stable machine code of the refusal"},
            "detail": {"type": "string", "description": "What went wrong, in words for a person"},
            "field": {"type": "string", "description": "The request field at fault, when there is one"},
            "pointer": {"type": "string", "description": "Where an unknown body field is, as a JSON pointer: /tenders/0/colour"},
            "use": {"type": "string", "description": "gone: the route to call instead"},
        },
        ("type", "title", "status", "code", "detail"),
        description="A problem document (RFC 9457)",
    ),
    "Reason": obj({"code": {"type": "string", "enum": PROBLEM_CODES}, "message": TEXT}, ("code", "message")),
    "Card": obj(
        {
            "id": ID,
            "code_masked": {"type": "string", "description": "The code with all but the last characters hidden"},
            "balance": ref("Money"),
            "currency": ref("Currency"),
            "status": {"type": "string", "enum": ["active", "frozen", "expired", "cancelled"]},
            "kind": {"type": "string", "enum": ["promotional", "purchased"]},
            "expires_at": nullable(TIMESTAMP),
            "merchant": nullable({"type": "string", "description": "Slug of the merchant the card belongs to"}),
            "valid_here": {"type": "boolean", "description": "Only on a look-up: can the caller's store take it"},
            "not_valid_reason": ref("Reason"),
        },
        ("id", "code_masked", "balance", "currency", "status", "kind", "expires_at", "merchant"),
        description="A gift card; its full code is shown once, when it is issued",
    ),
    "Transaction": obj(
        {
            "id": ID,
            "kind": {"type": "string", "examples": ["issue", "load", "redeem", "reverse"]},
            "created_at": TIMESTAMP,
            "memo": nullable(TEXT),
            "reference": nullable(TEXT),
            "reverses": nullable({**ID, "description": "The transaction this one undoes"}),
            "merchant_id": nullable(ID),
            "amount": {**ref("SignedMoney"), "description": "What the transaction did to the card (or account)"},
            "currency": ref("Currency"),
        },
        ("id", "kind", "created_at", "memo", "reference", "reverses", "merchant_id"),
        description="A ledger transaction",
    ),
    "Coupon": obj(
        {
            "id": ID,
            "name": TEXT,
            "code": nullable(TEXT),
            "discount_type": {"type": "string", "enum": ["percent", "fixed"]},
            "discount_value": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$", "description": "Percent or amount"},
            "currency": nullable(ref("Currency")),
            "max_uses": nullable(INT),
            "uses": INT,
            "uses_per_user": nullable(INT),
            "expires_at": nullable(TIMESTAMP),
            "min_order": nullable(ref("Money")),
            "merchants": {"type": "array", "items": TEXT},
            "allowed_domains": {"type": "array", "items": TEXT},
            "channels": {"type": "array", "items": {"type": "string", "enum": ["web", "api"]}},
            "created_at": TIMESTAMP,
        },
        (
            "id", "name", "code", "discount_type", "discount_value", "currency", "max_uses", "uses", "uses_per_user",
            "expires_at", "min_order", "merchants", "allowed_domains", "channels", "created_at",
        ),
        description="A coupon as admins see it",
    ),
    "CouponQuote": obj(
        {
            "discount": ref("Money"),
            "total_after": ref("Money"),
            "currency": ref("Currency"),
            "coupon": obj(
                {
                    "id": ID,
                    "discount_type": {"type": "string", "enum": ["percent", "fixed"]},
                    "discount_value": {"type": "string"},
                },
                ("id", "discount_type", "discount_value"),
            ),
        },
        ("discount", "total_after", "currency", "coupon"),
        description="What a coupon takes off an order",
    ),
}
SCHEMAS["IssuedCard"] = extended(
    "CardFields",
    {
        "code": {"type": "string", "description": "The full code: shown in this answer and never again"},
        "transaction": ref("Transaction"),
    },
    ("code", "transaction"),
)
SCHEMAS["LookedUpCard"] = extended("CardFields", {}, ("valid_here",))
SCHEMAS["WalletTransaction"] = extended(
    "TransactionFields",
    {
        "account": {"type": "string", "enum": ["card", "wallet", "loops"]},
        "card_id": nullable(ID),
    },
    ("amount", "currency", "account"),
)
SCHEMAS["CouponRedemption"] = {
    "allOf": [
        ref("CouponQuoteFields"),
        {
            "type": "object",
            "properties": {
                "use": obj({"id": ID, "reference": nullable(TEXT), "created_at": TIMESTAMP}, ("id", "reference", "created_at"))
            },
            "required": ["use"],
        },
    ],
    "unevaluatedProperties": False,
}
SCHEMAS["Entitlement"] = obj(
    {"feature": TEXT, "starts_at": TIMESTAMP, "ends_at": TIMESTAMP}, ("feature", "starts_at", "ends_at"),
    description="A feature the customer may use until ends_at",
)
SCHEMAS["Me"] = obj(
    {
        "id": ID,
        "email": {"type": "string", "format": "email"},
        "name": nullable(TEXT),
        "role": {"type": "string", "enum": ["customer", "merchant", "admin"]},
        "merchant": {"type": "string", "description": "Staff only: their merchant's slug"},
        "wallet": {
            "type": "array",
            "items": obj({"balance": ref("Money"), "currency": ref("Currency")}, ("balance", "currency")),
            "description": "Customers only: wallet credit per currency",
        },
        "loops": {**INT, "description": "Customers only: Loops to spend"},
        "tier": {**TEXT, "description": "Customers only"},
        "lifetime_loops": {**INT, "description": "Customers only"},
        "loops_to_next_tier": {**nullable(INT), "description": "Customers only; null at the top tier"},
        "entitlements": {
            "type": "array", "items": ref("Entitlement"), "description": "Customers only: features unlocked now, soonest to end first",
        },
    },
    ("id", "email", "name", "role"),
    description="Who the token acts for",
)
SCHEMAS["ConvertedCard"] = extended(
    "CardFields",
    {
        "code": {"type": "string", "description": "The full code: shown in this answer and never again"},
        "loops_spent": {**INT, "minimum": 0, "description": "Loops taken for the card"},
    },
    ("code", "loops_spent"),
)
SCHEMAS["Redeemed"] = obj(
    {
        "kind": {
            "type": "string", "enum": ["card", "transfer", "gift", "credit", "feature"],
            "description": (
                "A bearer card claimed, a friend's card claimed, a gift subscription redeemed, wallet credit added "
                "or a feature unlocked"
            ),
        },
        "message": {"type": "string", "description": "What happened, in words for the customer"},
        "card": {**ref("Card"), "description": "card and transfer: the card now in the wallet"},
        "wallet": obj(
            {"balance": ref("Money"), "currency": ref("Currency")}, ("balance", "currency"),
            description="credit: the wallet in the credited currency, after the credit",
        ),
        "entitlement": {**ref("Entitlement"), "description": "feature and gift: the feature or subscription and until when"},
    },
    ("kind", "message"),
    description="What a redeemed code did",
)
SCHEMAS["TransferStarted"] = obj(
    {
        "transfer_id": ID,
        "status": {"type": "string", "enum": ["pending"]},
        "claim_code": {"type": "string", "description": "The friend's claim code (GL-…): shown in this answer and never again"},
        "expires_at": TIMESTAMP,
        "card": ref("Card"),
    },
    ("transfer_id", "status", "claim_code", "expires_at", "card"),
    description="A card held for a friend until claimed, cancelled or expired",
)
# Card, Transaction and CouponQuote are extended: their ``…Fields`` base lets extra fields
# through, and ``unevaluatedProperties`` on each extension (and on the plain one) closes it again.
for _name in ("Card", "Transaction", "CouponQuote"):
    SCHEMAS[f"{_name}Fields"] = _open(_name)
    SCHEMAS[_name] = {**extended(f"{_name}Fields", {}), "description": SCHEMAS[_name].get("description", "")}

SCHEMAS["CardRedemption"] = obj(
    {"transaction": ref("Transaction"), "card": ref("Card"), "applied": ref("Money"), "remaining_due": ref("Money")},
    ("transaction", "card", "applied", "remaining_due"),
    description="A redemption: what was taken from the card and what the sale still needs",
)

# Request bodies: fields the server reads; others are ignored unless said so.
CARD_CODE = {
    "type": "string", "minLength": 1,
    "description": "The card's code in any spelling, or the token of its QR code: in a body, never in a URL",
}
REDEEM_FIELDS = {
    "amount": AMOUNT_INPUT,
    "currency": {"type": "string", "description": "If given, must be the card's"},
    "allow_partial": {"type": "boolean", "default": False, "description": "Take what the card holds"},
    "reference": {"type": "string", "maxLength": 100},
}
REQUESTS: dict[str, dict] = {
    "IssueCard": obj(
        {
            "amount": AMOUNT_INPUT,
            "currency": {"type": "string", "description": "Needed from admins; staff default to their store's"},
            "owner_email": {"type": "string", "maxLength": 254, "description": "A customer who owns the card"},
            "merchant": {"type": "string", "maxLength": 40, "description": "Admins only: scope to this merchant"},
            "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 36500},
        },
        ("amount",),
    ),
    "Redeem": obj(REDEEM_FIELDS, ("amount",)),
    "CardCode": obj({"code": CARD_CODE}, ("code",)),
    "RedeemByCode": obj({"code": CARD_CODE, **REDEEM_FIELDS}, ("code", "amount")),
    "Load": obj(
        {"amount": AMOUNT_INPUT, "currency": {"type": "string", "description": "If given, must be the card's"}},
        ("amount",),
    ),
    "Reverse": obj({"reason": {"type": "string", "minLength": 1, "maxLength": 500}}, ("reason",)),
    "CouponOrder": obj(
        {
            "code": {"type": "string", "minLength": 1},
            "order_total": AMOUNT_INPUT,
            "customer_email": {"type": "string", "maxLength": 254},
        },
        ("code", "order_total"),
    ),
    "CouponOrderRedeem": obj(
        {
            "code": {"type": "string", "minLength": 1},
            "order_total": AMOUNT_INPUT,
            "customer_email": {"type": "string", "maxLength": 254},
            "reference": {"type": "string", "maxLength": 100},
        },
        ("code", "order_total"),
    ),
    "CouponRules": obj(
        {
            "code": {"type": "string", "minLength": 1},
            "name": {"type": "string"},
            "discount_type": {"type": "string", "enum": ["percent", "fixed"]},
            "discount_value": AMOUNT_INPUT,
            "currency": nullable({"type": "string", "description": "Needed for fixed discounts and min_order"}),
            "max_uses": {"type": "integer", "minimum": 1},
            "uses_per_user": nullable({"type": "integer", "minimum": 1}),
            "expires_at": nullable({"type": "string", "description": "A date or date-time in the future"}),
            "min_order": nullable(AMOUNT_INPUT),
            "merchants": {"type": "array", "items": {"type": "string"}, "description": "Merchant slugs"},
            "allowed_domains": {"type": "array", "items": {"type": "string"}},
            "channels": {"type": "array", "items": {"type": "string", "enum": ["web", "api"]}},
        },
        ("code", "discount_type", "discount_value", "max_uses"),
        description="Unknown fields are refused",
    ),
    "RedeemCode": obj(
        {"code": {"type": "string", "minLength": 1, "maxLength": 200, "description": "A card code, a claim code or a campaign code"}},
        ("code",),
    ),
    "ConvertLoops": obj(
        {
            "amount": AMOUNT_INPUT,
            "currency": {"type": "string", "description": "The card's currency; defaults to the merchant's, or the only one traded"},
            "merchant": {"type": "string", "maxLength": 40, "description": "Slug of a merchant: the card is only for it, at its rate"},
        },
        ("amount",),
    ),
    "StartTransfer": obj(
        {"to_email": {"type": "string", "maxLength": 254, "description": "Only this address may claim the card"}},
    ),
    "ClaimTransfer": obj(
        {"claim_code": {"type": "string", "minLength": 1, "maxLength": 40, "description": "GL-… in any spelling"}},
        ("claim_code",),
    ),
}
# One example body per request: the reference page's curl lines show them, and tools read them.
REQUEST_EXAMPLES = {
    "IssueCard": {"amount": "25.00", "currency": "USD", "owner_email": "cara@example.com"},
    "CardCode": {"code": "GC-BQ3C-3T05-JG78-GA2N-7"},
    "Redeem": {"amount": "12.50", "allow_partial": True, "reference": "order-1042"},
    "RedeemByCode": {"code": "GC-BQ3C-3T05-JG78-GA2N-7", "amount": "12.50", "reference": "order-1042"},
    "Load": {"amount": "20.00"},
    "Reverse": {"reason": "Scanned the wrong card"},
    "CouponOrder": {"code": "SAVE15", "order_total": "40.00", "customer_email": "cara@example.com"},
    "CouponOrderRedeem": {"code": "SAVE15", "order_total": "40.00", "reference": "order-1042"},
    "CouponRules": {"code": "SAVE15", "discount_type": "percent", "discount_value": "15", "max_uses": 100,
                    "uses_per_user": 1, "expires_at": "2027-01-31", "channels": ["web", "api"]},
    "RedeemCode": {"code": "SPRING5"},
    "ConvertLoops": {"amount": "10.00", "currency": "USD"},
    "StartTransfer": {"to_email": "friend@example.com"},
    "ClaimTransfer": {"claim_code": "GL-7K2M-9QXD-4T1B"},
}
for _name, _example in REQUEST_EXAMPLES.items():
    REQUESTS[_name]["examples"] = [_example]
SCHEMAS.update(REQUESTS)

PARAMETERS = {
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": True,
        "description": (
            "Any unique string of up to 200 characters, per write. The same key and body answer the first "
            "answer again; another body under the key is 422 idempotency_conflict; kept 7 days."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    },
    "PageLimit": {
        "name": "limit", "in": "query", "required": False,
        "description": f"How many items at most (1 to {MAX_LIMIT}, {DEFAULT_LIMIT} if not given)",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    },
    "Cursor": {
        "name": "cursor", "in": "query", "required": False,
        "description": "The `next_cursor` of the page before; none: the first page. Pages do not shift when items are added.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    },
    "CardId": {"name": "card_id", "in": "path", "required": True, "schema": PATH_ID, "example": 12},
    "TransactionId": {"name": "transaction_id", "in": "path", "required": True, "schema": PATH_ID, "example": 345},
    "CouponId": {"name": "coupon_id", "in": "path", "required": True, "schema": PATH_ID, "example": 7},
}


NEXT_CURSOR = nullable({"type": "string", "description": "Give it as `cursor` for the next page; null on the last page"})
PAGED = ("PageLimit", "Cursor")


def page(items: dict, required: tuple[str, ...] = (), **more) -> dict:
    """A page of a list: its items, and the cursor of the next page."""
    return obj({**items, "next_cursor": NEXT_CURSOR}, (*required, "next_cursor"), **more)


def param(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def _problem_response(status: int, description: str, headers: dict | None = None, codes: list[str] | None = None) -> dict:
    codes = codes if codes is not None else codes_with(status)
    schema = {"allOf": [ref("Problem"), {"properties": {"code": {"enum": codes}, "status": {"const": status}}}]}
    response = {"description": description, "content": {"application/problem+json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "required": True, "schema": {"type": "integer", "minimum": 0}}}
RATE_LIMIT_FIELDS = {
    "RateLimit-Policy": {
        "description": 'The token\'s quota, as in the IETF httpapi draft: `"token";q=120;w=60` (120 requests in 60 seconds)',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of it: `"token";r=0;t=41` (0 requests left, the window ends in 41 seconds)',
        "schema": {"type": "string"},
    },
}
RESPONSES = {
    "MissingKey": _problem_response(
        400, "No Idempotency-Key header, or one longer than 200 characters (validation_error); or text with a NUL "
        "character anywhere in the request (bad_request)", codes=["validation_error", "bad_request"],
    ),
    "BadRequest": _problem_response(400, "Text with a NUL character anywhere in the request", codes=["bad_request"]),
    "Unauthorized": _problem_response(
        401,
        "No valid bearer token",
        {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}, "description": 'Bearer realm="giftloop"'}},
    ),
    "Forbidden": _problem_response(403, "The token's role may not do this"),
    "NotFound": _problem_response(404, "Nothing has that code or id"),
    "InProgress": _problem_response(409, "A request with this Idempotency-Key is still running", RETRY_AFTER),
    "Gone": _problem_response(
        410, "Not an id but a code in the path: the retired route of that shape; `use` names the route to call instead",
    ),
    "Refused": _problem_response(422, "The request is not valid or the operation was refused; nothing changed"),
    "RateLimited": _problem_response(
        429,
        "Too many requests with this token in a minute, or too many codes that didn't work from this caller",
        {**RETRY_AFTER, **RATE_LIMIT_FIELDS},
    ),
}
NAMES = {
    400: "MissingKey", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "InProgress", 410: "Gone",
    422: "Refused", 429: "RateLimited",
}
REPLAYED = {
    "Idempotent-Replayed": {
        "description": "true when this is the stored answer to an earlier request with the same key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


def who(roles: tuple[str, ...] | None) -> str:
    """Who may call an operation, as its description ends."""
    return f"Who: {', '.join(roles)}." if roles else "Public: no token needed."


def json_response(description: str, schema: dict, *, write: bool = False) -> dict:
    response = {"description": description, "content": {"application/json": {"schema": schema}}}
    if write:
        response["headers"] = REPLAYED
    return response


def operation(
    endpoint: str,
    summary: str,
    tag: str,
    roles: tuple[str, ...] | None,
    ok: tuple[int, dict],
    errors: tuple[int, ...],
    *,
    params: tuple[str, ...] = (),
    body: str | None = None,
    write: bool = False,
    description: str | None = None,
    refusals: tuple[str, ...] | None = None,
) -> dict:
    """One operation: its answer, its refusals by status, and who may call it.

    ``refusals`` names the codes its 422 can carry (a write adds ``idempotency_conflict``);
    without it the 422 lists every code that comes with 422.
    """
    status, response = ok
    if 422 not in errors and refusals is None:
        refusals = ()  # only an undeclared field or query parameter (validation_error)
    # Any request may carry a NUL character (refused before any view runs) or an undeclared field or
    # query parameter (422, portal.api.strict); every token has its rate limit.
    errors = tuple(sorted({*errors, 400, 422, *((429,) if roles is not None else ())}))
    if write and "headers" not in response and status != 204:
        response = {**response, "headers": REPLAYED}
    op = {
        "operationId": endpoint,
        "summary": summary,
        "tags": [tag],
        "responses": {
            str(status): response,
            **{str(s): {"$ref": f"#/components/responses/{'BadRequest' if s == 400 and not write else NAMES[s]}"} for s in errors},
        },
    }
    if refusals is not None and 422 in errors:
        codes = [*dict.fromkeys(["validation_error", *refusals]), *(["idempotency_conflict"] if write else [])]
        op["responses"]["422"] = _problem_response(422, RESPONSES["Refused"]["description"], codes=codes)
    if roles is None:
        op["security"] = []
    if roles:
        op["x-roles"] = list(roles)
    op["description"] = f"{description} {who(roles)}" if description else who(roles)
    parameters = [param(p) for p in params]
    if write:
        parameters.append(param("IdempotencyKey"))
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    return op


TILL = ("merchant", "admin")
COUPON_REFUSALS = ("validation_error", "expired", "usage_limit_reached", "already_redeemed", "not_valid_here", "currency_mismatch")
READ = (401, 403, 404, 422, 429)  # a card look-up: bad code spelling is 422, guessing 429
WRITE = (400, 401, 403, 404, 409, 422, 429)
REDEEM_REFUSALS = (
    "validation_error", "expired", "frozen", "cancelled", "insufficient_funds", "currency_mismatch", "not_valid_here",
)
BY_ID = (
    "Admins may name any card by id; staff only one whose code their user sent to /cards/lookup, /cards/redeem "
    "or got from /cards in the last 30 minutes, else 404 (counted like an unknown code)."
)

PATHS = {
    "/cards": {
        "post": operation(
            "card_issue", "Issue a card", "Cards", TILL,
            (201, json_response("The card, with its full code this once", ref("IssuedCard"))),
            (400, 401, 403, 409, 422), body="IssueCard", write=True,
            refusals=("validation_error",),
        ),
    },
    "/cards/lookup": {
        "post": operation(
            "card_lookup", "Look a card up by code or QR token", "Cards", TILL,
            (200, json_response("The card and whether the caller's store can take it", ref("LookedUpCard"))),
            READ, body="CardCode",
            refusals=("validation_error",),
            description=(
                "The code travels in the body, never in a URL. Its answer's id then names the card for "
                "30 minutes (redeem, load, history) to the same user."
            ),
        ),
    },
    "/cards/redeem": {
        "post": operation(
            "card_redeem_by_code", "Take value from a card by its code", "Cards", TILL,
            (200, json_response("What was applied and what is still due", ref("CardRedemption"))),
            WRITE, body="RedeemByCode", write=True, refusals=REDEEM_REFUSALS,
            description="Exactly the amount, or with allow_partial as much as the card holds.",
        ),
    },
    "/cards/{card_id}/redeem": {
        "post": operation(
            "card_redeem", "Take value from a card looked up before", "Cards", TILL,
            (200, json_response("What was applied and what is still due", ref("CardRedemption"))),
            (*WRITE, 410), params=("CardId",), body="Redeem", write=True, refusals=REDEEM_REFUSALS,
            description=f"Exactly the amount, or with allow_partial as much as the card holds. {BY_ID}",
        ),
    },
    "/cards/{card_id}/load": {
        "post": operation(
            "card_load", "Top a card up with cash", "Cards", TILL,
            (200, json_response("The load and the card", obj(
                {"transaction": ref("Transaction"), "card": ref("Card")}, ("transaction", "card")
            ))),
            (*WRITE, 410), params=("CardId",), body="Load", write=True,
            refusals=("validation_error", "expired", "frozen", "cancelled", "currency_mismatch", "not_valid_here"),
            description=BY_ID,
        ),
    },
    "/cards/{card_id}/transactions": {
        "get": operation(
            "card_transactions", "A card's history, newest first", "Cards", TILL,
            (200, json_response("The card and a page of its transactions", page(
                {"card": ref("Card"), "transactions": {"type": "array", "items": ref("Transaction")}},
                ("card", "transactions"),
            ))),
            (401, 403, 404, 410, 429), params=("CardId", *PAGED),
            description=f"{BY_ID} Staff see only cards of their own store or of the whole network.",
        ),
    },
    "/transactions/{transaction_id}/reverse": {
        "post": operation(
            "transaction_reverse", "Undo a transaction", "Cards", TILL,
            (201, json_response("The reversing transaction", obj({"transaction": ref("Transaction")}, ("transaction",)))),
            (400, 401, 403, 404, 409, 422), params=("TransactionId",), body="Reverse", write=True,
            refusals=("validation_error", "insufficient_funds"),
            description="Staff undo their own store's transactions of today; admins any.",
        ),
    },
    "/me": {
        "get": operation(
            "me", "Who the token acts for", "Me", ("customer", "merchant", "admin"),
            (200, json_response("The user; for a customer also wallet, Loops and tier", ref("Me"))),
            (401,),
        ),
    },
    "/me/cards": {
        "get": operation(
            "my_cards", "The customer's cards", "Me", ("customer",),
            (200, json_response("Most urgent first", page({"cards": {"type": "array", "items": ref("Card")}}, ("cards",)))),
            (401, 403), params=PAGED,
        ),
    },
    "/me/transactions": {
        "get": operation(
            "my_transactions", "The customer's history", "Me", ("customer",),
            (200, json_response("A page of entries on the customer's cards, wallet and Loops, newest first", page(
                {"transactions": {"type": "array", "items": ref("WalletTransaction")}}, ("transactions",)
            ))),
            (401, 403), params=PAGED,
        ),
    },
    "/me/redeem": {
        "post": operation(
            "my_redeem", "Redeem any code", "Me", ("customer",),
            (200, json_response("What the code did", ref("Redeemed"))),
            WRITE, body="RedeemCode", write=True,
            refusals=(
                "validation_error", "expired", "frozen", "cancelled", "already_redeemed", "usage_limit_reached", "not_valid_here",
            ),
            description=(
                "A bearer card's code claims the card, a friend's claim code the card given, a credit code "
                "fills the wallet and a feature code unlocks the feature."
            ),
        ),
    },
    "/me/points/convert": {
        "post": operation(
            "my_points_convert", "Turn Loops into a gift card", "Me", ("customer",),
            (201, json_response("The new card, with its full code this once", ref("ConvertedCard"))),
            (400, 401, 403, 409, 422), body="ConvertLoops", write=True,
            refusals=("validation_error", "insufficient_funds", "currency_mismatch"),
            description="At the customer's tier rate, or a merchant's own rate for a card only for it.",
        ),
    },
    "/me/cards/{card_id}/transfer": {
        "post": operation(
            "my_card_transfer", "Give a card to a friend", "Me", ("customer",),
            (201, json_response("The transfer, with its claim code this once", ref("TransferStarted"))),
            (400, 401, 403, 404, 409, 422), params=("CardId",), body="StartTransfer", write=True,
            refusals=("validation_error", "expired", "frozen", "cancelled"),
            description="The card is held until the friend claims it; only the owner's cards are found.",
        ),
    },
    "/transfers/claim": {
        "post": operation(
            "transfer_claim", "Claim a card a friend gave", "Me", ("customer",),
            (200, json_response("The card, now the customer's", obj({"card": ref("Card")}, ("card",)))),
            WRITE, body="ClaimTransfer", write=True,
            refusals=("validation_error", "expired", "frozen", "already_redeemed"),
            description="A card sent to an e-mail address can only be claimed by that address.",
        ),
    },
    "/coupons/validate": {
        "post": operation(
            "coupon_validate", "What a coupon takes off an order", "Coupons", ("merchant",),
            (200, json_response("The discount; nothing is used", ref("CouponQuote"))),
            (401, 403, 404, 422, 429), body="CouponOrder",
            refusals=COUPON_REFUSALS,
        ),
    },
    "/coupons/redeem": {
        "post": operation(
            "coupon_redeem", "Apply a coupon to an order", "Coupons", ("merchant",),
            (200, json_response("The discount and the use counted", ref("CouponRedemption"))),
            WRITE, body="CouponOrderRedeem", write=True,
            refusals=COUPON_REFUSALS,
        ),
    },
    "/coupons": {
        "post": operation(
            "coupon_create", "Create a coupon", "Coupons", ("admin",),
            (201, json_response("The coupon", ref("Coupon"))),
            (400, 401, 403, 409, 422), body="CouponRules", write=True,
            refusals=("validation_error",),
        ),
    },
    "/coupons/{coupon_id}": {
        "get": operation(
            "coupon_show", "A coupon", "Coupons", ("admin",),
            (200, json_response("The coupon with its uses", ref("Coupon"))),
            (401, 403, 404), params=("CouponId",),
        ),
        "put": operation(
            "coupon_replace", "Replace a coupon's rules", "Coupons", ("admin",),
            (200, json_response("The coupon", ref("Coupon"))),
            (400, 401, 403, 404, 409, 422), params=("CouponId",), body="CouponRules", write=True,
            refusals=("validation_error",),
            description="The limit can never go below the uses already counted.",
        ),
        "delete": operation(
            "coupon_delete", "Delete a coupon", "Coupons", ("admin",),
            (204, {"description": "Deleted: the code stops working; its uses stay on record", "headers": REPLAYED}),
            (400, 401, 403, 404, 409, 422), params=("CouponId",), write=True,
            refusals=(),
        ),
    },
    "/openapi.json": {
        "get": operation(
            "openapi_document", "This document", "Reference", None,
            (200, json_response("OpenAPI 3.1", {"type": "object"})),
            (),
        ),
    },
    "/docs": {
        "get": operation(
            "openapi_docs", "This document as a page", "Reference", None,
            (200, {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}),
            (),
        ),
    },
}

from portal.api.openapi_gifts import GIFT_PARAMETERS, GIFT_PATHS, GIFT_SCHEMAS, GIFT_TAG  # noqa: E402 - uses the pieces above

SCHEMAS.update(GIFT_SCHEMAS)
PARAMETERS.update(GIFT_PARAMETERS)
PATHS.update(GIFT_PATHS)

# The events endpoint (issue 11) is documented in a module of its own.
from portal.api.events_openapi import EVENT_PARAMETERS, EVENT_PATHS, EVENT_SCHEMAS, EVENT_TAG  # noqa: E402

SCHEMAS.update(EVENT_SCHEMAS)
PARAMETERS.update(EVENT_PARAMETERS)
PATHS.update(EVENT_PATHS)

# The checkout endpoint (issue 21) is documented in a module of its own.
from portal.api.checkout_openapi import CHECKOUT_PATHS, CHECKOUT_SCHEMAS, CHECKOUT_TAG  # noqa: E402

SCHEMAS.update(CHECKOUT_SCHEMAS)
PATHS.update(CHECKOUT_PATHS)

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "Giftloop API",
        "version": "1",
        "summary": "Gift cards, coupons and the customer's wallet for tills and programs",
        "description": (
            "Send a token as `Authorization: Bearer <token>`; it acts with its user's role. "
            "Amounts are strings in answers (\"12.50\"); requests take a string or a number with no more "
            "digits than the currency allows. Errors are `application/problem+json` with a stable `code`. "
            "Every write takes an `Idempotency-Key` header. A token may make {rate_limit} by default (some "
            "tokens have their own limit); past it the answer is 429 `rate_limited` with `Retry-After`, and every answer "
            "carries the `RateLimit-Policy` and `RateLimit` fields. Card codes travel only in request bodies, "
            "where no log keeps them: the retired routes with a code in the path (`/cards/{{code}}`, "
            "`…/redeem`, `…/load`, `…/transactions`) answer 410 `gone` with the route to use instead."
        ),
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "tags": [
        {"name": "Cards", "description": "Tills and programs: look up, issue, redeem, load, history, undo"},
        {"name": "Me", "description": "The token's own user; customers redeem codes, convert Loops and give cards"},
        {"name": "Coupons", "description": "Tills validate and redeem; admins manage"},
        CHECKOUT_TAG,
        EVENT_TAG,
        GIFT_TAG,
        {"name": "Reference", "description": "This document"},
    ],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token made in settings or with `portal tokens create` (glt_…)",
            }
        },
        "schemas": SCHEMAS,
        "parameters": PARAMETERS,
        "responses": RESPONSES,
    },
}


# --- The reference page ---------------------------------------------------------------------


def resolve(node: dict) -> dict:
    """Follow a local ``$ref`` in the document."""
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/"):
        target = DOCUMENT
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def type_of(schema: dict) -> str:
    """A short, readable type: Card, string, Money or null, array of Transaction."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(type_of(s) for s in schema["anyOf"])
    if "allOf" in schema:
        return " and ".join(type_of(s) for s in schema["allOf"] if "$ref" in s or "type" in s)
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        return f"array of {type_of(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    return kind


def fields(schema: dict) -> list[dict]:
    """The fields of an object schema (through allOf), for a table."""
    schema = resolve(schema)
    rows = []
    for part in schema.get("allOf", [schema]):
        part = resolve(part)
        required = set(part.get("required", ()))
        for name, prop in part.get("properties", {}).items():
            rows.append({"name": name, "type": type_of(prop), "required": name in required,
                         "description": resolve(prop).get("description", "")})
    return rows


def curl(method: str, path: str, op: dict, base_url: str) -> str:
    """A curl command that calls the operation with the document's example values."""
    parameters = [resolve(p) for p in op.get("parameters", [])]
    for p in parameters:
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", str(p.get("example", f"<{p['name']}>")))
    lines = [f"curl -X {method.upper()} '{base_url}{path}'"]
    if op.get("security") != []:
        lines.append('-H "Authorization: Bearer $GIFTLOOP_TOKEN"')
    if any(p["name"] == "Idempotency-Key" for p in parameters):
        lines.append('-H "Idempotency-Key: $(uuidgen)"')
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body:
        body = resolve(body)
        example = body.get("examples", [{name: f"<{name}>" for name in body.get("required", [])}])[0]
        lines += ["-H 'Content-Type: application/json'", f"-d '{json.dumps(example)}'"]
    return " \\\n  ".join(lines)


def operations(base_url: str) -> list[dict]:
    """Every operation, flattened for the template."""
    listed = []
    for path, methods in PATHS.items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            responses = []
            for status, response in op["responses"].items():
                response = resolve(response)
                media, content = next(iter(response.get("content", {}).items()), ("", {}))
                schema = content.get("schema", {})
                responses.append({
                    "status": status, "description": response["description"], "media": media,
                    "type": type_of(schema) if schema else "",
                    "codes": schema["allOf"][1]["properties"]["code"]["enum"] if media == "application/problem+json" else [],
                    "fields": fields(schema) if media == "application/json" and "properties" in schema else [],
                })
            listed.append({
                "id": op["operationId"], "method": method.upper(), "path": path, "summary": op["summary"],
                "description": op.get("description", "").removesuffix(who(op.get("x-roles"))).strip(),
                "tag": op["tags"][0], "roles": op.get("x-roles"),
                "curl": curl(method, path, op, base_url),
                "parameters": [resolve(p) for p in op.get("parameters", [])],
                "body": type_of(body) if body else None, "body_fields": fields(body) if body else [],
                "responses": responses,
            })
    return listed


def served_document() -> dict:
    """The document as this server runs: its description names the configured default rate limit."""
    config = current_app.config
    rate_limit = f"{config['API_RATE_LIMIT']} requests every {config['API_RATE_WINDOW_SECONDS']} seconds"
    return {**DOCUMENT, "info": {**DOCUMENT["info"], "description": DOCUMENT["info"]["description"].format(rate_limit=rate_limit)}}


@bp.get("/openapi.json")
@public
def openapi_document():
    """The OpenAPI 3.1 document of this API."""
    return jsonify(served_document())


@bp.app_template_filter("code_spans")
def code_spans(text: str | None) -> Markup:
    """The document's Markdown `code` spans as <code>, everything else escaped."""
    parts = str(escape(text or "")).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick stays as written
        return Markup(escape(text or ""))
    return Markup("".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts)))


@bp.get("/docs")
@public
def openapi_docs():
    """The API reference, rendered from the same document."""
    schemas = {
        name: {"type": type_of(s), "description": s.get("description", ""), "fields": fields(s), "pattern": s.get("pattern")}
        for name, s in SCHEMAS.items()
    }
    return render_template(
        "api/docs.html", doc=served_document(), operations=operations(request.url_root + "api/v1"), schemas=schemas,
        codes=[(code, STATUS[code]) for code in PROBLEM_CODES],
    )
