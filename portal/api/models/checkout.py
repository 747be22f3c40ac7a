"""``POST /checkout``: a whole sale at a till in one call."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal.api.models import (
    Amount,
    Answer,
    Body,
    Currency,
    Id,
    MoneyText,
    examples,
    text,
)

MAX_TENDERS = 20


class Tender(Body):
    """One payment: a card, the customer's wallet credit, or their Loops (both need a customer code or a card's QR)"""

    type: Literal["card", "wallet", "loops"]
    code: text(200, "card: its code or QR token (in the body, never the URL)") | None = None
    amount: Amount | None = Field(None, description="card and wallet: what to take, at most what is still to pay")
    loops: int | None = Field(None, ge=1, le=10**9, description="loops: whole Loops, at most what pays what is still due")


class Checkout(Body):
    model_config = examples({"total": "20.00", "customer": "C1-7K2M9Q", "coupon": "SAVE10", "tenders": [
        {"type": "loops", "loops": 200}, {"type": "wallet", "amount": "3.00"},
        {"type": "card", "code": "GC-XXXX-XXXX-XXXX-XXXX-X", "amount": "13.00"}]})

    total: Amount
    customer: text(254, (
        "The customer: the code on their wallet page or a QR token of their card (both let the sale spend their "
        "credit and Loops), or their e-mail address (names them for a coupon's rules only)"
    )) | None = None
    coupon: text(100) | None = None
    tenders: list[Tender] = Field([], max_length=MAX_TENDERS)


class CheckoutCustomer(Answer):
    first_name: str
    present: bool


class CheckoutLine(Answer):
    type: Literal["coupon", "card", "wallet", "loops"]
    label: str
    amount: MoneyText
    left_to_pay: MoneyText
    transaction_id: Id | None


class Sale(Answer):
    """The sale's receipt: the coupon, then each payment with what was left to pay after it"""

    reference: str = Field(description="Every ledger transaction of the sale carries it")
    currency: Currency
    total: MoneyText
    discount: MoneyText
    paid: MoneyText
    remaining_due: MoneyText
    customer: CheckoutCustomer | None
    lines: list[CheckoutLine]
