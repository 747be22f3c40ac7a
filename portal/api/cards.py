"""Card endpoints for tills and programs: look up, issue, redeem, load, history, reverse."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, request

from portal.api import bp
from portal.api import schemas as out
from portal.api.idempotency import idempotent, request_key
from portal.cards import operations
from portal.cards.lookup import NO_SUCH_CARD, find_card, usable_at
from portal.errors import CurrencyMismatch, DomainError, NotFound, ValidationError
from portal.extensions import db
from portal.ledger import Actor
from portal.models import GiftCard, Merchant, Transaction, User, utcnow
from portal.money import Money, exponent
from portal.services import services
from portal.web.guards import roles
from portal.web.guessing import guarded

TILL = ("merchant", "admin")


def _actor() -> Actor:
    user = g.api_token.user
    return Actor(user_id=user.id, token_id=g.api_token.id, merchant_id=user.merchant_id)


def _merchant() -> Merchant | None:
    """The merchant the caller acts for: staff act for their own, admins for none."""
    return g.api_token.user.merchant


def _card(code: str, *, own_store_only: bool = False) -> GiftCard:
    """The card a code or QR token names, counting a miss against the caller.

    With ``own_store_only``, another store's card is as unknown to staff as a made-up code (and
    counts as a miss), so its history cannot be probed."""
    with guarded():
        card = find_card(db.session, code, services().vault, services().qr)
        merchant = _merchant()
        if own_store_only and merchant is not None and card.merchant_id not in (None, merchant.id):
            raise NotFound(NO_SUCH_CARD, field="code")
        return card


def _validity(card: GiftCard) -> tuple[bool, DomainError | None]:
    try:
        usable_at(card, _merchant(), utcnow())
    except DomainError as reason:
        return False, reason
    return True, None


def _amount(body: dict, currency: str) -> Money:
    if "currency" in body and str(body["currency"]).upper() != currency:
        raise CurrencyMismatch(f"This card holds {currency}; the request is in {body['currency']}")
    if "amount" not in body:
        raise ValidationError("Give an amount, like \"12.50\"", field="amount")
    return Money.parse(body["amount"], currency)


@bp.get("/cards/<code>")
@roles(*TILL)
def card_show(code: str):
    """A card by code or QR token, and whether it can be used here."""
    card = _card(code)
    valid, reason = _validity(card)
    return out.card(card, valid_here=valid, reason=reason)


@bp.post("/cards")
@roles(*TILL)
@idempotent
def card_issue():
    """Issue a card; the full code is in this answer and never again."""
    body = out.json_object(request)
    staff_merchant = _merchant()
    currency = str(body.get("currency") or (staff_merchant.currency if staff_merchant else "")).upper()
    if not currency:
        raise ValidationError("Give a currency, like \"USD\"", field="currency")
    exponent(currency)
    value = Money.parse(body.get("amount"), currency)
    owner = None
    if email := out.optional_str(body, "owner_email", max_length=254):
        owner = db.session.scalar(sa.select(User).where(User.email == email.lower()))
        if owner is None or not owner.is_customer:
            raise ValidationError("No customer has that e-mail address", field="owner_email")
    # Staff sell for their own store (network-wide if the store is set up so); an admin may
    # scope a card to any merchant by slug.
    merchant, scoped = staff_merchant, None
    if staff_merchant is None and (slug := out.optional_str(body, "merchant", max_length=40)):
        merchant = db.session.scalar(sa.select(Merchant).where(Merchant.slug == slug))
        if merchant is None:
            raise ValidationError(f"No merchant with slug {slug}", field="merchant")
        scoped = True
    issued = operations.issue_card(
        db.session, services().vault, amount=value, actor=_actor(), idempotency_key=request_key(),
        owner=owner, merchant=merchant, scope_to_merchant=scoped,
        expires_in_days=out.optional_int(body, "expires_in_days", low=1, high=36500),
    )
    body = out.card(issued.card)
    body["code"] = issued.code
    body["transaction"] = out.transaction(issued.transaction, account_id=issued.card.account_id)
    return body, 201


@bp.post("/cards/<code>/redeem")
@roles(*TILL)
@idempotent
def card_redeem(code: str):
    """Take value from a card for a purchase, exactly or as much as it holds."""
    body = out.json_object(request)
    card = _card(code)
    result = operations.redeem(
        db.session, card, _amount(body, card.currency), actor=_actor(), idempotency_key=request_key(),
        merchant=_merchant(), allow_partial=out.optional_bool(body, "allow_partial"),
        reference=out.optional_str(body, "reference", max_length=100),
    )
    return {
        "transaction": out.transaction(result.transaction, account_id=card.account_id),
        "card": out.card(result.card),
        "applied": str(result.applied),
        "remaining_due": str(result.remaining_due),
    }


@bp.post("/cards/<code>/load")
@roles(*TILL)
@idempotent
def card_load(code: str):
    """Top a card up with cash taken at the counter."""
    body = out.json_object(request)
    card = _card(code)
    tx = operations.load(
        db.session, card, _amount(body, card.currency), actor=_actor(), idempotency_key=request_key(),
        source="cash", merchant=_merchant(),
    )
    return {"transaction": out.transaction(tx, account_id=card.account_id), "card": out.card(card)}


@bp.get("/cards/<code>/transactions")
@roles(*TILL)
def card_transactions(code: str):
    """A card's history, newest first."""
    card = _card(code, own_store_only=True)
    rows = db.session.scalars(
        sa.select(Transaction).where(Transaction.card_id == card.id).order_by(Transaction.id.desc()).limit(200)
    ).all()
    return {"card": out.card(card), "transactions": [out.transaction(tx, account_id=card.account_id) for tx in rows]}


@bp.post("/transactions/<int:transaction_id>/reverse")
@roles(*TILL)
@idempotent
def transaction_reverse(transaction_id: int):
    """Undo a transaction: staff their own store's of today, admins any."""
    body = out.json_object(request)
    reason = out.optional_str(body, "reason", max_length=500)
    if not reason:
        raise ValidationError("Say why this is being undone", field="reason")
    tx = operations.reverse(
        db.session, transaction_id, actor=_actor(), idempotency_key=request_key(),
        reason=reason, staff_merchant=_merchant(),
    )
    return {"transaction": out.transaction(tx)}, 201
