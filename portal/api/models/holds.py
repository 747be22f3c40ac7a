"""Holds: what tills and shops send to reserve an amount on a card, and what they get back."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal.api.models import Amount, Answer, Body, Currency, Id, MoneyText, Reference, Timestamp, examples
from portal.api.models.cards import Card, CardCode, Transaction
from portal.cards.holds import MAX_HOURS


class Hold(Answer):
    """An amount reserved on a card until it is captured, released or lapses"""

    id: Id
    card: Card
    amount: MoneyText = Field(description="What the hold reserved")
    captured: MoneyText | None = Field(description="What a capture took; the rest went back to the card")
    currency: Currency
    state: Literal["open", "captured", "released", "lapsed"]
    reference: str | None
    created_at: Timestamp
    expires_at: Timestamp = Field(description="When an open hold lapses and its amount goes back to the card")
    finished_at: Timestamp | None
    transaction: Transaction = Field(description="The hold's latest ledger transaction: the one that placed or ended it")


class PlaceHold(Body):
    model_config = examples({"code": "GC-BQ3C-3T05-JG78-GA2N-7", "amount": "40.00", "reference": "order-1042"})

    code: CardCode | None = Field(None, description="The card's code or QR token; or give card_id")
    card_id: Id | None = Field(None, description="A card the caller's user looked up by its code in the last 30 minutes")
    amount: Amount
    currency: str | None = Field(None, max_length=8, description="If given, must be the card's")
    reference: Reference | None = None
    expires_in_hours: int | None = Field(
        None, description=f"When the hold lapses if not captured or released: 1 to {MAX_HOURS} hours (default 168, "
        "7 days), never after the card expires",
    )


class CaptureHold(Body):
    model_config = examples({"amount": "32.50"})

    amount: Amount | None = Field(None, description="At most the held amount; all of it if left out")
