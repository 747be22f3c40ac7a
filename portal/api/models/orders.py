"""Shop orders: placing one for a hosted checkout, and reading it back (issue 25)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from portal.api.models import (
    Amount,
    Answer,
    Body,
    Currency,
    Email,
    Id,
    MoneyText,
    Timestamp,
    absent,
    examples,
    text,
)
from portal.api.models.paging import NextCursor
from portal.models.orders import CARD_DESIGNS, LINE_KINDS, ORDER_STATES
from portal.orders.placing import MAX_MESSAGE, MAX_NAME

Design = Literal[CARD_DESIGNS]


def _iso_date(value: object) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("date", 'Give a date as text, like "2027-05-01"')


Day = Annotated[date, PlainValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date",
                                                                 "examples": ["2027-05-01"]})]


class CardLine(Body):
    """One card: for the buyer, or with ``recipient_email`` for a friend, e-mailed on ``deliver_on``"""

    amount: Amount
    design: Design = "classic"
    recipient_email: Email | None = Field(None, description="A friend's address; leave out for a card for the buyer")
    recipient_name: text(MAX_NAME) = ""
    message: text(MAX_MESSAGE) = ""
    deliver_on: Day | None = Field(None, description="When the friend gets the card: today (the default) "
                                                     "up to a year ahead")


class BulkCards(Body):
    """Many bearer cards of one amount; the buyer gets one e-mail with all their codes"""

    quantity: int = Field(ge=1, description="How many cards, up to the programme's maximum per order")
    amount: Amount
    design: Design = "classic"


class PlaceOrder(Body):
    model_config = examples({
        "lines": [{"amount": "25.00", "design": "birthday", "recipient_email": "fran@example.com",
                   "recipient_name": "Fran", "message": "Happy birthday!", "deliver_on": "2027-05-01"}],
        "buyer_email": "guest@example.com",
    })

    lines: list[CardLine] | None = Field(None, min_length=1, max_length=1000,
                                         description="The cards, one a line; or give `bulk`")
    bulk: BulkCards | None = Field(None, description="Or many cards of one amount, instead of `lines`")
    buyer_email: Email | None = Field(
        None, description="Admins: the buyer's address (receipts, and the codes of cards for the buyer). "
                          "A customer's orders are theirs: leave it out or give their own address",
    )


class OrderLine(Answer):
    id: Id
    kind: Literal[LINE_KINDS] = Field(description="card: a new card; card_topup, wallet_topup: value added")
    amount: MoneyText
    design: Design
    recipient_email: str | None
    recipient_name: str
    message: str
    deliver_on: str | None = Field(description="The day a friend's card is e-mailed; null: when paid")
    card_id: Id | None = Field(description="The card issued, once paid (its code goes by e-mail, never here)")
    delivered_at: Timestamp | None


class Order(Answer):
    """An order: pending until the provider's webhook confirms the payment, then paid and fulfilled"""

    id: Id
    reference: str = Field(description="The order's public name, as on receipts")
    state: Literal[ORDER_STATES] = Field(description="pending → paid → fulfilled, or expired or refunded")
    currency: Currency
    total: MoneyText
    buyer_email: str
    bulk: bool
    approval_required: bool = Field(description="Paid orders above the programme's amount wait for an admin")
    created_at: Timestamp
    expires_at: Timestamp = Field(description="Unpaid by then, it expires")
    paid_at: Timestamp | None
    fulfilled_at: Timestamp | None
    lines: list[OrderLine]
    checkout_url: str = absent("Only when placed: the provider's hosted checkout, where the buyer pays")


class Orders(Answer):
    orders: list[Order]
    next_cursor: NextCursor
