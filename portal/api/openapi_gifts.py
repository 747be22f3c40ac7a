"""The gift subscription part of the OpenAPI document: its schemas, request bodies and paths.

Built from the pieces of ``portal.api.openapi`` and merged into its document there.
"""

from __future__ import annotations

from portal.api.openapi import (
    BOOL, ID, PAGED, PATH_ID, PROBLEM_CODES, TEXT, TIMESTAMP, WRITE, json_response, nullable, obj, operation, page, ref,
)
from portal.api.paging import MAX_LIMIT, MAX_OFFSET

CUSTOMER = ("customer",)
STATUSES = ["created", "sent", "redeemed", "cancelled", "expired"]
GIFT_CODE = {"type": "string", "description": "GIFT-XXXX-XXXX-XXXX-XXXX: shown in full to the buyer only"}

GIFT_SCHEMAS: dict[str, dict] = {
    "Gift": obj(
        {
            "id": ID,
            "code_masked": {"type": "string", "description": "The code with all but its last characters hidden"},
            "gift_code": GIFT_CODE,
            "subscription_identifier": {"type": "string", "examples": ["plus"]},
            "plan_name": TEXT,
            "subscription_duration_days": {"type": "integer", "minimum": 1},
            "status": {
                "type": "string", "enum": STATUSES,
                "description": "created (paid or not yet) → sent → redeemed, cancelled or expired",
            },
            "recipient_email": nullable({"type": "string", "description": "The named friend; null for an open gift"}),
            "message": TEXT,
            "from": {"type": "string", "description": "The buyer's name or address"},
            "created_at": TIMESTAMP,
            "sent_at": nullable(TIMESTAMP),
            "expires_at": {**TIMESTAMP, "description": "Redeemable until then; a sent gift past it is refunded"},
            "redeemed_at": nullable(TIMESTAMP),
            "payment_method": {"type": "string", "enum": ["wallet", "loops"], "description": "Buyer only"},
            "currency": {**ref("Currency"), "description": "Buyer only: LOOP when paid with Loops"},
            "price": {**ref("Money"), "description": "Buyer only: the list price"},
            "discount": {**ref("Money"), "description": "Buyer only: what the coupon took off"},
            "amount_paid": {**ref("Money"), "description": "Buyer only: price less discount"},
            "paid": {**BOOL, "description": "Buyer only"},
            "paid_at": nullable(TIMESTAMP),
        },
        (
            "id", "code_masked", "subscription_identifier", "plan_name", "subscription_duration_days", "status",
            "recipient_email", "message", "from", "created_at", "sent_at", "expires_at", "redeemed_at",
        ),
        description="A gift subscription, as its buyer or its recipient sees it",
    ),
    "GiftCheck": obj(
        {
            "gift_code": {"type": "string", "description": "The code, masked"},
            "subscription_identifier": TEXT,
            "can_redeem": BOOL,
            "error": {
                "anyOf": [{"type": "string", "enum": PROBLEM_CODES}, {"type": "null"}],
                "description": "Why not, as a problem code; null when it can be redeemed",
            },
            "message": {"type": "string", "description": "Why not, or what redeeming gives, in words"},
        },
        ("gift_code", "subscription_identifier", "can_redeem", "error", "message"),
        description="Whether the caller could redeem a gift code now",
    ),
    "PurchaseGift": obj(
        {
            "subscription_identifier": {"type": "string", "minLength": 1, "examples": ["plus"]},
            "recipient_email": nullable({"type": "string", "maxLength": 254, "description": "Leave out for an open gift"}),
            "payment_method": {"type": "string", "enum": ["wallet", "loops"]},
            "message": nullable({"type": "string", "maxLength": 500}),
            "coupon": nullable({"type": "string", "description": "A coupon code open to the api channel"}),
            "gift_duration_days": nullable({"type": "integer", "minimum": 1, "maximum": 3660, "default": 365}),
            "subscription_duration_days": nullable(
                {"type": "integer", "minimum": 1, "description": "A whole number of the plan's periods"}
            ),
        },
        ("subscription_identifier", "payment_method"),
        examples=[{"subscription_identifier": "plus", "payment_method": "wallet", "recipient_email": "friend@example.com",
                   "message": "Happy birthday!"}],
    ),
    "RedeemGift": obj(
        {"gift_code": {"type": "string", "minLength": 1}}, ("gift_code",),
        examples=[{"gift_code": "GIFT-7K2M-Q9PD-4X1T-C8VN"}],
    ),
}
GIFT_SCHEMAS["BoughtGift"] = {
    **GIFT_SCHEMAS["Gift"],
    "required": [*GIFT_SCHEMAS["Gift"]["required"], "gift_code", "payment_method", "amount_paid", "paid"],
    "description": "A gift as its buyer sees it, with the full code",
}

GIFT_PARAMETERS = {
    "Take": {"name": "take", "in": "query", "required": False, "description": "Alias of `limit`",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}},
    "Offset": {"name": "offset", "in": "query", "required": False,
               "description": "Skip this many first (not with `cursor`; an offset shifts when gifts are added)",
               "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}},
    "GiftId": {"name": "gift_id", "in": "path", "required": True, "schema": PATH_ID, "example": 21},
    "GiftCode": {"name": "code", "in": "path", "required": True, "description": "A gift code in any spelling",
                 "schema": {"type": "string"}, "example": "GIFT-7K2M-Q9PD-4X1T-C8VN"},
}

# What stops a gift being sent or redeemed: not yet (validation_error), or it has ended.
ENDED = ("validation_error", "expired", "cancelled", "already_redeemed")
# A coupon's refusals, as at a till (an unknown coupon is 404).
COUPON_REFUSALS = ("expired", "usage_limit_reached", "already_redeemed", "not_valid_here", "currency_mismatch")
GIFT_LIST = page({"gifts": {"type": "array", "items": ref("Gift")}}, ("gifts",))
# The seed's spelling of paging, kept: take is limit, offset skips (not stable under inserts; prefer cursor).
GIFT_PAGING = (*PAGED, "Take", "Offset")
OWN_WRITE = (400, 401, 403, 404, 409, 422)

GIFT_PATHS = {
    "/gifts/sent": {
        "get": operation(
            "gifts_sent_list", "Gifts the customer bought", "Gifts", CUSTOMER,
            (200, json_response("Newest first, with full codes", GIFT_LIST)), (401, 403), params=GIFT_PAGING,
        ),
    },
    "/gifts/received": {
        "get": operation(
            "gifts_received_list", "Gifts sent to the customer", "Gifts", CUSTOMER,
            (200, json_response("Gifts to the customer's address once sent, and open gifts they redeemed", GIFT_LIST)),
            (401, 403), params=GIFT_PAGING,
        ),
    },
    "/gifts/{gift_id}": {
        "get": operation(
            "gift_show", "One gift", "Gifts", CUSTOMER,
            (200, json_response("The gift; the buyer also sees its code and payment", ref("Gift"))),
            (401, 403, 404), params=("GiftId",),
        ),
    },
    "/gifts/purchase": {
        "post": operation(
            "gift_purchase", "Buy a gift subscription", "Gifts", CUSTOMER,
            (201, json_response("The gift, paid and waiting to be sent (status created)", ref("BoughtGift"))),
            WRITE, body="PurchaseGift", write=True,
            refusals=("validation_error", "insufficient_funds", *COUPON_REFUSALS),
            description="Paid at once from wallet credit (in the plan's currency) or Loops, less the coupon's discount.",
        ),
    },
    "/gifts/check/{code}": {
        "get": operation(
            "gift_check", "Could I redeem this gift code?", "Gifts", CUSTOMER,
            (200, json_response("Whether it can be redeemed now and why not; nothing changes", ref("GiftCheck"))),
            (401, 403, 404, 422, 429), params=("GiftCode",), refusals=("validation_error",),
            description="An unknown code counts as a failed guess.",
        ),
    },
    "/gifts/redeem": {
        "post": operation(
            "gift_redeem", "Redeem a gift code", "Gifts", CUSTOMER,
            (200, json_response("The gift and the subscription it started", obj(
                {"gift": ref("Gift"), "subscription": {**ref("Entitlement"), "description": "feature: the plan's identifier"}},
                ("gift", "subscription"),
            ))),
            WRITE, body="RedeemGift", write=True, refusals=ENDED,
            description=(
                "Needs the gift sent and unexpired, the caller to be the named friend (if any) and to hold no "
                "active subscription of the plan."
            ),
        ),
    },
    "/gifts/{gift_id}/send": {
        "post": operation(
            "gift_send", "Send a paid gift", "Gifts", CUSTOMER,
            (200, json_response("The gift, sent: the named friend gets the code by e-mail", ref("BoughtGift"))),
            OWN_WRITE, params=("GiftId",), write=True, refusals=ENDED,
        ),
    },
    "/gifts/{gift_id}/cancel": {
        "post": operation(
            "gift_cancel", "Cancel a gift", "Gifts", CUSTOMER,
            (200, json_response("The gift, cancelled; what was paid is back in the wallet or Loops", ref("BoughtGift"))),
            OWN_WRITE, params=("GiftId",), write=True, refusals=("validation_error", "already_redeemed"),
            description="Only the buyer, and only before it is redeemed.",
        ),
    },
}
GIFT_TAG = {"name": "Gifts", "description": "Customers buy gift subscriptions for friends, send, cancel and redeem them"}
