"""Card endpoints for tills and programs: look up, issue, redeem, load, history, reverse."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, request

from portal.api import bp
from portal.api import schemas as out
from portal.api.idempotency import idempotent, request_key
from portal.api.paging import keyset, requested_page
from portal.cards import operations
from portal.cards.lookup import find_card, usable_at
from portal.errors import CurrencyMismatch, DomainError, NotFound, ValidationError
from portal.extensions import db
from portal.ledger import Actor
from portal.models import GiftCard, Merchant, Transaction, User, utcnow
from portal.money import Money, exponent
from portal.services import services
from portal.web.problems import problem
from portal.web.guards import roles
from portal.web.guessing import guarded

TILL = ("merchant", "admin")


def _actor() -> Actor:
    user = g.api_token.user
    return Actor(user_id=user.id, token_id=g.api_token.id, merchant_id=user.merchant_id)


def _merchant() -> Merchant | None:
    """The merchant the caller acts for: staff act for their own, admins for none."""
    return g.api_token.user.merchant


# A card's id works only after its code was shown (an id counts up and is no secret); an id the
# caller may not use is as unknown as a made-up code, and counts as a miss.
NOT_SHOWN = "No card you looked up lately has that id: send its code to POST /api/v1/cards/lookup first"


def _code(body: dict) -> str:
    code = body.get("code")
    if not isinstance(code, str) or not code.strip():
        raise ValidationError("Give the card's code or QR token", field="code")
    return code


def _card_by_code(code: str) -> GiftCard:
    """The card a code or QR token names, counting a miss against the caller; showing the code
    lets the caller's user name the card by id for a while (``CardGrants``)."""
    with guarded():
        card = find_card(db.session, code, services().vault, services().qr)
    services().card_grants.grant(g.api_token.user.id, card)
    return card


def _card_by_id(card_id: int, *, own_store_only: bool = False) -> GiftCard:
    """A card by id: any card for an admin, for staff one whose code their user showed lately.

    With ``own_store_only``, another store's card is as unknown to staff as one never looked up
    (and counts as a miss), so its history cannot be probed."""
    user = g.api_token.user
    with guarded():
        card = db.session.get(GiftCard, card_id)
        if card is None or not (user.is_admin or services().card_grants.holds(user.id, card)):
            raise NotFound(NOT_SHOWN, field="id")
        merchant = _merchant()
        if own_store_only and merchant is not None and card.merchant_id not in (None, merchant.id):
            raise NotFound(NOT_SHOWN, field="id")
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


@bp.post("/cards/lookup")
@roles(*TILL)
def card_lookup():
    """A card by code or QR token (in the body: codes never travel in a URL), and whether it can be used here."""
    card = _card_by_code(_code(out.json_object(request)))
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
    services().card_grants.grant(g.api_token.user.id, issued.card)
    body = out.card(issued.card)
    body["code"] = issued.code
    body["transaction"] = out.transaction(issued.transaction, account_id=issued.card.account_id)
    return body, 201


@bp.post("/cards/redeem")
@roles(*TILL)
@idempotent
def card_redeem_by_code():
    """Take value from the card whose code or QR token is in the body."""
    body = out.json_object(request)
    return _redeem(_card_by_code(_code(body)), body)


@bp.post("/cards/<int:card_id>/redeem")
@roles(*TILL)
@idempotent
def card_redeem(card_id: int):
    """Take value from a card looked up before, exactly or as much as it holds."""
    return _redeem(_card_by_id(card_id), out.json_object(request))


def _redeem(card: GiftCard, body: dict) -> dict:
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


@bp.post("/cards/<int:card_id>/load")
@roles(*TILL)
@idempotent
def card_load(card_id: int):
    """Top a card up with cash taken at the counter."""
    body = out.json_object(request)
    card = _card_by_id(card_id)
    tx = operations.load(
        db.session, card, _amount(body, card.currency), actor=_actor(), idempotency_key=request_key(),
        source="cash", merchant=_merchant(),
    )
    return {"transaction": out.transaction(tx, account_id=card.account_id), "card": out.card(card)}


@bp.get("/cards/<int:card_id>/transactions")
@roles(*TILL)
def card_transactions(card_id: int):
    """A card's history, newest first, a page at a time."""
    card = _card_by_id(card_id, own_store_only=True)
    query = sa.select(Transaction.id, Transaction).where(Transaction.card_id == card.id)
    rows, cursor = keyset(db.session, query, requested_page(), Transaction.id)
    return {
        "card": out.card(card),
        "transactions": [out.transaction(tx, account_id=card.account_id) for tx in rows],
        "next_cursor": cursor,
    }


# The routes that took a code in the path answer 410 Gone with where to go instead, never the code:
# the code already sits in every log between the client and us, so the client must move.
MOVED = {
    "": "POST /api/v1/cards/lookup with {\"code\": …}",
    "/redeem": "POST /api/v1/cards/redeem with {\"code\": …, \"amount\": …}, or POST /api/v1/cards/{id}/redeem",
    "/load": "POST /api/v1/cards/{id}/load, with the id from POST /api/v1/cards/lookup",
    "/transactions": "GET /api/v1/cards/{id}/transactions, with the id from POST /api/v1/cards/lookup",
}


def _gone(action: str):
    def view(code: str):
        return problem(
            "gone", f"Codes no longer travel in URLs, where logs keep them. Use {MOVED[action]}.",
            status=410, use=MOVED[action],
        )

    view.__name__ = f"card_code_in_path{action.replace('/', '_')}"
    view.retired = True  # left out of the OpenAPI document, which names it in its description
    return roles(*TILL)(view)


for _action, _methods in (("", ["GET"]), ("/redeem", ["POST"]), ("/load", ["POST"]), ("/transactions", ["GET"])):
    bp.add_url_rule(f"/cards/<code>{_action}", view_func=_gone(_action), methods=_methods)


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
