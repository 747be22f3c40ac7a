"""``POST /checkout``'s part of the OpenAPI document (issue 21), merged into it by portal/api/openapi.py."""

from __future__ import annotations

from portal.api.openapi import (
    AMOUNT_INPUT, BOOL, COUPON_REFUSALS, ID, TEXT, WRITE, json_response, nullable, obj, operation, ref,
)

CHECKOUT_SCHEMAS = {
    "CheckoutTender": obj(
        {
            "type": {"type": "string", "enum": ["card", "wallet", "loops"]},
            "code": {"type": "string", "maxLength": 200, "description": "card: its code or QR token (in the body, never the URL)"},
            "amount": {**AMOUNT_INPUT, "description": "card and wallet: what to take, at most what is still to pay"},
            "loops": {"type": "integer", "minimum": 1, "description": "loops: whole Loops, at most what pays what is still due"},
        },
        ("type",),
        description="One payment: a card, the customer's wallet credit, or their Loops (both need a customer code or a card's QR)",
    ),
    "Checkout": obj(
        {
            "total": AMOUNT_INPUT,
            "customer": {"type": "string", "maxLength": 254, "description": (
                "The customer: the code on their wallet page or a QR token of their card (both let the sale spend "
                "their credit and Loops), or their e-mail address (names them for a coupon's rules only)")},
            "coupon": {"type": "string", "maxLength": 100},
            "tenders": {"type": "array", "items": ref("CheckoutTender"), "maxItems": 20},
        },
        ("total",),
        examples=[{"total": "20.00", "customer": "C1-7K2M9Q", "coupon": "SAVE10", "tenders": [
            {"type": "loops", "loops": 200}, {"type": "wallet", "amount": "3.00"},
            {"type": "card", "code": "GC-XXXX-XXXX-XXXX-XXXX-X", "amount": "13.00"}]}],
    ),
    "CheckoutLine": obj(
        {
            "type": {"type": "string", "enum": ["coupon", "card", "wallet", "loops"]},
            "label": TEXT,
            "amount": ref("Money"),
            "left_to_pay": ref("Money"),
            "transaction_id": nullable(ID),
        },
        ("type", "label", "amount", "left_to_pay", "transaction_id"),
    ),
    "Sale": obj(
        {
            "reference": {"type": "string", "description": "Every ledger transaction of the sale carries it"},
            "currency": ref("Currency"),
            "total": ref("Money"),
            "discount": ref("Money"),
            "paid": ref("Money"),
            "remaining_due": ref("Money"),
            "customer": nullable(obj({"first_name": TEXT, "present": BOOL}, ("first_name", "present"))),
            "lines": {"type": "array", "items": ref("CheckoutLine")},
        },
        ("reference", "currency", "total", "discount", "paid", "remaining_due", "customer", "lines"),
        description="The sale's receipt: the coupon, then each payment with what was left to pay after it",
    ),
}

CHECKOUT_PATHS = {
    "/checkout": {
        "post": operation(
            "sale_checkout", "Take a whole sale: customer, coupon and tenders", "Checkout", ("merchant",),
            (201, json_response("The sale, paid as far as its tenders go", ref("Sale"))),
            WRITE, body="Checkout", write=True,
            refusals=(*COUPON_REFUSALS, "insufficient_funds", "frozen", "cancelled"),
            description=(
                "All or nothing: if the customer, the coupon or any tender is refused, nothing moves, and the "
                "problem's `field` names it (`tenders[2].amount`)."
            ),
        ),
    },
}

CHECKOUT_TAG = {"name": "Checkout", "description": "A sale at a till in one call, with one Idempotency-Key"}
