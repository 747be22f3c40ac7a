"""What an event says: a stable JSON shape with ids, amounts as strings and masked codes only.

The envelope is Stripe's: ``{"id": "evt_42", "type": "card.redeemed", "created": "…Z", "data": {…}}``.
The same envelope is the body of a webhook and an item of ``GET /api/v1/events``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from portal.cards.codes import CARD_CODE_RE
from portal.models import GiftCard, Transaction
from portal.models.events import Event, WebhookDelivery
from portal.money import format_minor

API_VERSION = "2026-11-23"


def timestamp(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as the API writes times."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def checked_json(data: dict) -> str:
    """The data as JSON text. Raise ValueError if a full card code slipped into it."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    if CARD_CODE_RE.search(text):
        raise ValueError("an event carries masked codes only (code_masked)")
    return text


def checked(data: dict) -> dict:
    """The data as it will be stored. Raise ValueError if a full card code slipped into it."""
    checked_json(data)
    return data


def card_data(card: GiftCard, *, code_masked: str | None = None) -> dict:
    """A card as events name it: what stays true of it (its balance goes beside it).

    A set-based caller (the expiry sweep) passes a row with the card's columns and its masked code.
    """
    return {
        "id": card.id, "code_masked": code_masked if code_masked is not None else card.code.masked,
        "currency": card.currency, "merchant_id": card.merchant_id,
    }


@dataclass(frozen=True)
class Movement:
    """What one ledger transaction did to the one account its event speaks of: the event's data.

    ``amount`` is signed, in minor units: what the transaction did to that account; ``balance``
    what the account holds after it (None if the event speaks of no account). ``merchant_id`` is
    the transaction's own.
    """

    transaction_id: int
    kind: str
    amount: int
    currency: str
    balance: int | None
    account: str  # the account's kind, or "system"
    card: dict | None  # card_data
    customer_id: int | None
    merchant_id: int | None
    reference: str | None = None
    reverses_id: int | None = None

    @property
    def routed_to(self) -> int | None:
        """The merchant whose endpoints hear it: the transaction's, else the card's."""
        if self.merchant_id is not None:
            return self.merchant_id
        return self.card["merchant_id"] if self.card is not None else None

    def data(self) -> dict:
        return {
            "transaction_id": self.transaction_id,
            "kind": self.kind,
            "amount": format_minor(self.amount, self.currency),
            "currency": self.currency,
            "balance": format_minor(self.balance, self.currency) if self.balance is not None else None,
            "account": self.account,
            "card": self.card,
            "customer_id": self.customer_id,
            "merchant_id": self.merchant_id,
            "reference": self.reference,
            "reverses_id": self.reverses_id,
        }


def transaction_movement(session: Session, transaction: Transaction, legs: list) -> Movement:
    """What a transaction just posted did, for its event.

    The event speaks of one account, the one the transaction is about: the card's if it names a
    card, otherwise the first customer account in it (a wallet, Loops); with neither, of what
    moved in the first leg's currency.
    """
    card = session.get(GiftCard, transaction.card_id) if transaction.card_id else None
    subject = None
    for account, _ in legs:
        if (card is not None and account.id == card.account_id) or (card is None and account.kind != "system"):
            subject = account
            break
    if subject is None:
        currency = legs[0][0].currency
        moved, balance = sum(amount for account, amount in legs if amount > 0 and account.currency == currency), None
    else:
        currency = subject.currency
        moved = sum(amount for account, amount in legs if account.id == subject.id)
        balance = subject.balance
    return Movement(
        transaction_id=transaction.id, kind=transaction.kind, amount=moved, currency=currency, balance=balance,
        account=subject.kind if subject is not None else "system",
        card=card_data(card) if card is not None else None,
        customer_id=card.owner_id if card is not None else (subject.owner_id if subject is not None else None),
        merchant_id=transaction.merchant_id, reference=transaction.reference, reverses_id=transaction.reverses_id,
    )


def envelope(event: Event) -> dict:
    """The event as webhooks send it and the API lists it."""
    return {
        "id": f"evt_{event.id}",
        "object": "event",
        "api_version": API_VERSION,
        "type": event.type,
        "created": timestamp(event.occurred_at),
        "merchant_id": event.merchant_id,
        "data": event.payload,
    }


def test_envelope(delivery: WebhookDelivery) -> dict:
    """The body of a test event: the same shape, so a receiver can check its signature code."""
    return {
        "id": f"evt_test_{delivery.id}",
        "object": "event",
        "api_version": API_VERSION,
        "type": "webhook.test",
        "created": timestamp(delivery.created_at),
        "merchant_id": None,
        "data": {"endpoint_id": delivery.endpoint_id, "message": "A test event sent from Giftloop"},
    }


def body_of(delivery: WebhookDelivery) -> bytes:
    """The exact bytes a delivery posts (and signs)."""
    document = envelope(delivery.event) if delivery.event is not None else test_envelope(delivery)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
