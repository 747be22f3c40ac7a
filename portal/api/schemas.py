"""How domain objects look in JSON: amounts as strings, codes masked, times in ISO 8601."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import object_session

from portal.cards.holds import held_on
from portal.errors import DomainError
from portal.models import GiftCard, Transaction
from portal.models.campaigns import Entitlement
from portal.models.holds import Hold
from portal.money import format_minor


def amount(minor: int | None, currency: str) -> str | None:
    """An amount as the API writes it ("12.50"); None stays None (a limit not set)."""
    return format_minor(minor, currency) if minor is not None else None


def when(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def card(
    card: GiftCard, *, held: int | None = None, valid_here: bool | None = None, reason: DomainError | None = None,
) -> dict:
    """A card; ``balance`` is all it holds, ``held`` what open holds reserve of it (read unless
    given), ``available`` the rest."""
    if held is None:
        held = held_on(object_session(card), card)
    body = {
        "id": card.id,
        "code_masked": card.code.masked,
        "balance": amount(card.account.balance + held, card.currency),
        "held": amount(held, card.currency),
        "available": amount(card.account.balance, card.currency),
        "currency": card.currency,
        "status": card.status,
        "kind": card.kind,
        "expires_at": when(card.expires_at),
        "merchant": card.merchant.slug if card.merchant else None,
        "network": card.network.name if card.network else None,
    }
    if valid_here is not None:
        body["valid_here"] = valid_here
        if reason is not None:
            body["not_valid_reason"] = {"code": reason.code, "message": reason.message}
    return body


def hold(row: Hold, latest: Transaction) -> dict:
    """A hold, with ``latest``, the transaction that placed or ended it."""
    return {
        "id": row.id,
        "card": card(row.card),
        "amount": amount(row.amount, row.currency),
        "captured": amount(row.captured, row.currency),
        "currency": row.currency,
        "state": row.state,
        "reference": row.reference,
        "created_at": when(row.created_at),
        "expires_at": when(row.expires_at),
        "finished_at": when(row.finished_at),
        "transaction": transaction(latest, account_id=row.card.account_id),
    }


def entitlement(row: Entitlement) -> dict:
    return {"feature": row.feature, "starts_at": when(row.starts_at), "ends_at": when(row.ends_at)}


def entitlement_state(row: Entitlement, now: datetime) -> dict:
    """An entitlement with what it gives and whether it runs at ``now``."""
    return {**entitlement(row), "gives": row.gives, "status": "active" if row.ends_at > now else "expired"}


def transaction(tx: Transaction, *, account_id: int | None = None) -> dict:
    """A transaction; with ``account_id``, ``amount`` is what it did to that account."""
    body = {
        "id": tx.id,
        "kind": tx.kind,
        "created_at": when(tx.created_at),
        "memo": tx.memo,
        "reference": tx.reference,
        "reverses": tx.reverses_id,
        "merchant_id": tx.merchant_id,
    }
    if account_id is not None:
        entries = [e for e in tx.entries if e.account_id == account_id]
        if entries:
            body["amount"] = amount(sum(e.amount for e in entries), entries[0].currency)
            body["currency"] = entries[0].currency
    return body
