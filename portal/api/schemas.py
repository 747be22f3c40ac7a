"""How domain objects look in JSON: amounts as strings, codes masked, times in ISO 8601."""

from __future__ import annotations

from datetime import datetime

from portal.api.body import NOT_AN_OBJECT, json_body
from portal.errors import DomainError, ValidationError
from portal.models import GiftCard, Transaction
from portal.models.campaigns import Entitlement
from portal.money import Money, format_minor


def amount(minor: int, currency: str) -> str:
    return format_minor(minor, currency)


def when(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def card(card: GiftCard, *, valid_here: bool | None = None, reason: DomainError | None = None) -> dict:
    body = {
        "id": card.id,
        "code_masked": card.code.masked,
        "balance": amount(card.account.balance, card.currency),
        "currency": card.currency,
        "status": card.status,
        "kind": card.kind,
        "expires_at": when(card.expires_at),
        "merchant": card.merchant.slug if card.merchant else None,
    }
    if valid_here is not None:
        body["valid_here"] = valid_here
        if reason is not None:
            body["not_valid_reason"] = {"code": reason.code, "message": reason.message}
    return body


def entitlement(row: Entitlement) -> dict:
    return {"feature": row.feature, "starts_at": when(row.starts_at), "ends_at": when(row.ends_at)}


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


def json_object(request) -> dict:
    """The request's JSON object body ({} when empty); raise ValidationError if it is not an object,
    or as ``portal.api.body.json_body`` for text no endpoint could read or store."""
    body = json_body()
    if body is None and not request.get_data():  # no body at all, as opposed to a JSON null
        return {}
    if not isinstance(body, dict):
        raise ValidationError(NOT_AN_OBJECT)
    return body


def required_money(body: dict, name: str, currency: str, *, missing: str) -> Money:
    """A required amount, read by the one money parser; every refusal names the field."""
    if name not in body:
        raise ValidationError(missing, field=name)
    try:
        return Money.parse(body[name], currency)
    except ValidationError as error:
        raise ValidationError(error.message, field=name) from None


def optional_str(body: dict, name: str, *, max_length: int = 200) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise ValidationError(f"{name} must be text of at most {max_length} characters", field=name)
    return value.strip() or None


def optional_bool(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be true or false", field=name)
    return value


def optional_int(body: dict, name: str, *, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{name} must be a whole number from {low} to {high}", field=name)
    return value
