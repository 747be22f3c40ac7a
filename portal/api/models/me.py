"""The token's own user: who it is, and a customer's wallet, Loops, cards, history and own writes."""

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
    SignedMoneyText,
    Timestamp,
    absent,
    examples,
    text,
)
from portal.api.models.cards import Card, Transaction
from portal.api.models.paging import NextCursor


class Entitlement(Answer):
    """A feature the customer may use until ends_at"""

    feature: str
    starts_at: Timestamp
    ends_at: Timestamp


class EntitlementState(Entitlement):
    """One of the customer's features: what it gives, and whether it runs now"""

    gives: str = Field(description="What the feature gives, in words; empty when the grant said nothing")
    status: Literal["active", "expired"] = Field(description="active until ends_at, expired after it")


class MyEntitlements(Answer):
    """The customer's features, active and expired, the newest first"""

    entitlements: list[EntitlementState]
    next_cursor: NextCursor


class WalletBalance(Answer):
    balance: MoneyText
    currency: Currency


class Me(Answer):
    """Who the token acts for"""

    id: Id
    email: str = Field(json_schema_extra={"format": "email"})
    name: str | None
    role: Literal["customer", "merchant", "admin"]
    merchant: str = absent("Staff only: their merchant's slug")
    wallet: list[WalletBalance] = absent("Customers only: wallet credit per currency")
    loops: int = absent("Customers only: Loops to spend")
    tier: str = absent("Customers only")
    lifetime_loops: int = absent("Customers only")
    loops_to_next_tier: int | None = absent("Customers only; null at the top tier")
    entitlements: list[Entitlement] = absent("Customers only: features unlocked now, soonest to end first")


class MyCards(Answer):
    """The customer's cards, most urgent first"""

    cards: list[Card]
    next_cursor: NextCursor


class WalletTransaction(Transaction):
    """An entry on the customer's cards, wallet or Loops, with its transaction"""

    amount: SignedMoneyText
    currency: Currency
    account: Literal["card", "wallet", "loops"]
    card_id: Id | None = absent()


class MyTransactions(Answer):
    transactions: list[WalletTransaction]
    next_cursor: NextCursor


class RedeemCode(Body):
    model_config = examples({"code": "SPRING5"})

    code: text(200, "A card code, a claim code or a campaign code", min_length=1)


class Redeemed(Answer):
    """What a redeemed code did"""

    kind: Literal["card", "transfer", "gift", "credit", "feature"] = Field(description=(
        "A bearer card claimed, a friend's card claimed, a gift subscription redeemed, wallet credit added or a "
        "feature unlocked"
    ))
    message: str = Field(description="What happened, in words for the customer")
    card: Card = absent("card and transfer: the card now in the wallet")
    wallet: WalletBalance = absent("credit: the wallet in the credited currency, after the credit")
    entitlement: Entitlement = absent("feature and gift: the feature or subscription and until when")


class ConvertLoops(Body):
    model_config = examples({"amount": "10.00", "currency": "USD"})

    amount: Amount
    currency: text(8) | None = Field(
        None, description="The card's currency; defaults to the merchant's, or the only one traded",
    )
    merchant: MerchantSlug | None = Field(None, description="Slug of a merchant: the card is only for it, at its rate")


class ConvertedCard(Card):
    """The new card, with its full code this once"""

    code: str = Field(description="The full code: shown in this answer and never again")
    loops_spent: int = Field(ge=0, description="Loops taken for the card")


class StartTransfer(Body):
    model_config = examples({"to_email": "friend@example.com"})

    to_email: Email | None = Field(None, description="Only this address may claim the card")


class TransferStarted(Answer):
    """A card held for a friend until claimed, cancelled or expired"""

    transfer_id: Id
    status: Literal["pending"]
    claim_code: str = Field(description="The friend's claim code (GL-…): shown in this answer and never again")
    expires_at: Timestamp
    card: Card


class ClaimTransfer(Body):
    model_config = examples({"claim_code": "GL-7K2M-9QXD-4T1B"})

    claim_code: text(40, "GL-… in any spelling", min_length=1)


class ClaimedCard(Answer):
    """The card, now the customer's"""

    card: Card
