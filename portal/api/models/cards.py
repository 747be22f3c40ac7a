"""Cards and transactions: what tills and programs send and get back."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal.api.models import (
    Amount,
    Answer,
    Body,
    Currency,
    Email,
    Id,
    MerchantSlug,
    MoneyText,
    Reference,
    SignedMoneyText,
    Timestamp,
    absent,
    examples,
    text,
)
from portal.api.models.paging import NextCursor
from portal.api.models.problems import Reason

CardCode = text(200, "The card's code in any spelling, or the token of its QR code: in a body, never in a URL",
                min_length=1)


class Card(Answer):
    """A gift card; its full code is shown once, when it is issued"""

    id: Id
    code_masked: str = Field(description="The code with all but the last characters hidden")
    balance: MoneyText = Field(description="All the card holds, open holds included")
    held: MoneyText = Field(description="What open holds reserve of the balance")
    available: MoneyText = Field(description="What the card can pay now: the balance less its open holds")
    currency: Currency
    status: Literal["active", "frozen", "expired", "cancelled"]
    kind: Literal["promotional", "purchased"]
    expires_at: Timestamp | None
    merchant: str | None = Field(description="Slug of the merchant the card belongs to")
    network: str | None = Field(description="Name of the network whose merchants alone take the card")


class LookedUpCard(Card):
    """A card found by its code, and whether the caller's store can take it"""

    valid_here: bool
    not_valid_reason: Reason = absent("Why the caller's store cannot take it")


class Transaction(Answer):
    """A ledger transaction"""

    id: Id
    kind: str = Field(examples=["issue", "load", "redeem", "reverse"])
    created_at: Timestamp
    memo: str | None
    reference: str | None
    reverses: Id | None = Field(description="The transaction this one undoes")
    merchant_id: Id | None
    amount: SignedMoneyText = absent("What the transaction did to the card (or account)")
    currency: Currency = absent()


class IssuedCard(Card):
    """A new card, with its full code this once"""

    code: str = Field(description="The full code: shown in this answer and never again")
    transaction: Transaction


class CardRedemption(Answer):
    """A redemption: what was taken from the card and what the sale still needs"""

    transaction: Transaction
    card: Card
    applied: MoneyText
    remaining_due: MoneyText


class CardLoad(Answer):
    """A top-up and the card after it"""

    transaction: Transaction
    card: Card


class CardHistory(Answer):
    """A page of a card's history, newest first"""

    card: Card
    transactions: list[Transaction]
    next_cursor: NextCursor


class Reversal(Answer):
    """The reversing transaction"""

    transaction: Transaction


class CardLookup(Body):
    model_config = examples({"code": "GC-BQ3C-3T05-JG78-GA2N-7"})

    code: CardCode


class IssueCard(Body):
    model_config = examples({"amount": "25.00", "currency": "USD", "owner_email": "cara@example.com"})

    amount: Amount
    currency: str | None = Field(None, max_length=8, description="Needed from admins; staff default to their store's")
    owner_email: Email | None = Field(None, description="A customer who owns the card")
    merchant: MerchantSlug | None = Field(None, description="Admins only: scope to this merchant")
    network: int | None = Field(None, ge=1, le=2**53, description="Admins only: scope to this network (its id)")
    expires_in_days: int | None = Field(None, ge=1, le=36500)


class Redeem(Body):
    model_config = examples({"amount": "12.50", "allow_partial": True, "reference": "order-1042"})

    amount: Amount
    currency: str | None = Field(None, max_length=8, description="If given, must be the card's")
    allow_partial: bool = Field(False, description="Take what the card holds")
    reference: Reference | None = None


class RedeemByCode(Redeem):
    model_config = examples({"code": "GC-BQ3C-3T05-JG78-GA2N-7", "amount": "12.50", "reference": "order-1042"})

    code: CardCode


class Load(Body):
    model_config = examples({"amount": "20.00"})

    amount: Amount
    currency: str | None = Field(None, max_length=8, description="If given, must be the card's")


class Reverse(Body):
    model_config = examples({"reason": "Scanned the wrong card"})

    reason: text(500, "Why this is being undone", min_length=1)
