"""Card endpoints for tills and programs: look up, issue, redeem, load, history, reverse."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import sqlalchemy as sa
from flask import g

from portal.api import bp
from portal.api import schemas as out
from portal.api.contract import operation
from portal.api.idempotency import answer_record, idempotent, kept_answer, request_key
from portal.api.models.cards import (
    CardHistory,
    CardLoad,
    CardLookup,
    CardRedemption,
    IssueCard,
    IssuedCard,
    Load,
    LookedUpCard,
    Redeem,
    RedeemByCode,
    Reversal,
    Reverse,
)
from portal.api.models.paging import PageQuery
from portal.api.paging import keyset, requested_page
from portal.cards import operations
from portal.cards.lookup import card_name, find_card, refuse_out_of_scope, usable_at
from portal.errors import CurrencyMismatch, DomainError, NotFound, NotValidHere, ValidationError
from portal.extensions import db
from portal.ledger import Actor
from portal.ledger.in_database import NO_RECORD
from portal.models import GiftCard, Merchant, Transaction, User, utcnow
from portal.money import Money, exponent
from portal.networks import check_network
from portal.programme import refuse_redemption
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


# A card's id works only after its code was shown (an id counts up and is no secret); an id the
# caller may not use is as unknown as a made-up code, and counts as a miss.
NOT_SHOWN = "No card you looked up lately has that id: send its code to POST /api/v1/cards/lookup first"


def _card_by_code(code: str) -> GiftCard:
    """The card a code or QR token names, counting a miss against the caller; showing the code
    lets the caller's user name the card by id for a while (``CardGrants``)."""
    with guarded():
        card = find_card(db.session, code, services().vault, services().qr)
    services().card_grants.grant(g.api_token.user.id, card)
    return card


def _card_by_id(card_id: int, *, own_store_only: bool = False) -> GiftCard:
    """A card by id: any card for an admin, for staff one whose code their user showed lately.

    With ``own_store_only``, another store's card (or one of a network the store is not in) is as
    unknown to staff as one never looked up (and counts as a miss), so its history cannot be probed."""
    user = g.api_token.user
    with guarded():
        card = db.session.get(GiftCard, card_id)
        if card is None or not (user.is_admin or services().card_grants.holds(user.id, card)):
            raise NotFound(NOT_SHOWN, field="id")
        merchant = _merchant()
        if own_store_only and merchant is not None:
            try:
                refuse_out_of_scope(card, merchant)
            except NotValidHere:
                raise NotFound(NOT_SHOWN, field="id") from None
        return card


def _validity(card: GiftCard) -> tuple[bool, DomainError | None]:
    try:
        refuse_redemption(db.session, "gift_card", "api", g.api_token.user)
        usable_at(card, _merchant(), utcnow())
    except DomainError as reason:
        return False, reason
    return True, None


def _amount(body: Redeem | Load, currency: str) -> Money:
    if body.currency is not None and body.currency.upper() != currency:
        raise CurrencyMismatch(f"This card holds {currency}; the request is in {body.currency}")
    return body.money("amount", currency)


# What stops a card being used, beyond a bad field (a top-up cannot run short).
LOAD_REFUSALS = ("expired", "frozen", "cancelled", "currency_mismatch", "not_valid_here")
CARD_REFUSALS = (*LOAD_REFUSALS, "insufficient_funds")


@bp.post("/cards/lookup")
@roles(*TILL)
@operation("Cards", LookedUpCard, errors=(404,))
def card_lookup(json: CardLookup):
    """Look up a card by its code

    By its code or QR token, in the body (codes never travel in a URL), and whether the caller's store can
    take it. An unknown code counts as a failed guess.
    """
    card = _card_by_code(json.code)
    valid, reason = _validity(card)
    return out.card(card, valid_here=valid, reason=reason)


@bp.post("/cards")
@roles(*TILL)
@operation("Cards", IssuedCard, status=201)
@idempotent
def card_issue(json: IssueCard):
    """Issue a card

    The full code is in this answer and never again. Staff issue for their own store (network-wide if the
    store is set up so); an admin may scope a card to a merchant or to a network.
    """
    staff_merchant = _merchant()
    currency = (json.currency or (staff_merchant.currency if staff_merchant else "")).upper()
    if not currency:
        raise ValidationError("Give a currency, like \"USD\"", field="currency")
    exponent(currency)
    value = json.money("amount", currency)
    owner = None
    if email := json.owner_email:
        owner = db.session.scalar(sa.select(User).where(User.email == email.lower()))
        if owner is None or not owner.is_customer:
            raise ValidationError("No customer has that e-mail address", field="owner_email")
    # Staff sell for their own store (network-wide if the store is set up so); an admin may
    # scope a card to any merchant by slug.
    merchant, scoped = staff_merchant, None
    if staff_merchant is None and (slug := json.merchant):
        merchant = db.session.scalar(sa.select(Merchant).where(Merchant.slug == slug))
        if merchant is None:
            raise ValidationError(f"No merchant with slug {slug}", field="merchant")
        scoped = True
    network = None
    if json.network is not None:
        if staff_merchant is not None:
            raise ValidationError("Only admins scope a card to a network", field="network")
        network = check_network(db.session, json.network)
    issued = operations.issue_card(
        db.session, services().vault, amount=value, actor=_actor(), idempotency_key=request_key(),
        owner=owner, merchant=merchant, scope_to_merchant=scoped, network=network,
        expires_in_days=json.expires_in_days,
    )
    services().card_grants.grant(g.api_token.user.id, issued.card)
    body = out.card(issued.card)
    body["code"] = issued.code
    body["transaction"] = out.transaction(issued.transaction, account_id=issued.card.account_id)
    return body, 201


def redemption_answer(values: dict) -> dict:
    """A redemption's answer from the values giftloop_redeem kept with the request's record:
    written by ``out.card`` and ``out.transaction`` as from loaded rows, the first time and on
    every replay alike."""
    card, tx = values["card"], values["transaction"]
    currency = card["currency"]
    loaded = SimpleNamespace(
        id=card["id"], code=SimpleNamespace(masked=card["code_masked"]), account=SimpleNamespace(balance=card["balance"]),
        currency=currency, status=card["status"], kind=card["kind"], expires_at=_utc(card["expires_at"]),
        merchant=SimpleNamespace(slug=card["merchant"]) if card["merchant"] else None,
        network=SimpleNamespace(name=card["network"]) if card["network"] else None,
    )
    posted = SimpleNamespace(
        id=tx["id"], kind="redeem", created_at=_utc(tx["created_at"]), memo=tx["memo"], reference=tx["reference"],
        reverses_id=None, merchant_id=tx["merchant_id"],
        entries=[SimpleNamespace(account_id="card", amount=tx["amount"], currency=currency)],
    )
    applied = Money(values["applied"], currency)
    return {
        "transaction": out.transaction(posted, account_id="card"),
        "card": out.card(loaded, held=card["held"]),
        "applied": str(applied),
        "remaining_due": str(Money(values["requested"], currency) - applied),
    }


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@bp.post("/cards/redeem")
@roles(*TILL)
@operation("Cards", CardRedemption, errors=(404,), refusals=CARD_REFUSALS)
@idempotent(kept=redemption_answer)
def card_redeem_by_code(json: RedeemByCode):
    """Redeem a card by its code

    Take value from the card whose code or QR token is in the body, exactly or as much as it holds.
    """
    return _redeem_by_code(json) or _redeem(_card_by_code(json.code), json)


def _redeem_by_code(body: RedeemByCode) -> dict | None:
    """The redemption as one call that also finds the card by its code, when the amount can be read
    before the card is known (in the body's currency, or the caller's store's); None when that is
    not so or the card refuses it: then the card is looked up first and the rules give their words."""
    record, merchant = answer_record(), _merchant()
    currency = (body.currency or (merchant.currency if merchant else "")).upper()
    if record is NO_RECORD or not currency:
        return None
    try:
        amount = body.money("amount", currency)
    except DomainError:
        return None
    with guarded():
        paid = operations.redeem_named(
            db.session, card_name(body.code, services().vault, services().qr), amount, actor=_actor(),
            idempotency_key=request_key(), merchant=merchant, allow_partial=body.allow_partial,
            reference=body.reference or None, record=record,
        )
    if paid is None:
        return None
    services().card_grants.grant_shown(g.api_token.user.id, paid.card_id, paid.lookup_hash)
    return kept_answer(paid.answer)


@bp.post("/cards/<int:card_id>/redeem")
@roles(*TILL)
@operation("Cards", CardRedemption, errors=(404, 410), refusals=CARD_REFUSALS)
@idempotent(kept=redemption_answer)
def card_redeem(card_id: int, json: Redeem):
    """Redeem a card looked up before

    Take value from it, exactly or as much as it holds. An id works only for a card the caller's user looked
    up by its code in the last 30 minutes; any other is as unknown as a made-up code (and counts as a guess).
    """
    return _redeem(_card_by_id(card_id), json)


def _redeem(card: GiftCard, body: Redeem) -> dict:
    result = operations.redeem(
        db.session, card, _amount(body, card.currency), actor=_actor(), idempotency_key=request_key(),
        merchant=_merchant(), allow_partial=body.allow_partial, reference=body.reference or None,
        record=answer_record(),
    )
    if result.answer is not None:
        return kept_answer(result.answer)
    return {
        "transaction": out.transaction(result.transaction, account_id=card.account_id),
        "card": out.card(result.card),
        "applied": str(result.applied),
        "remaining_due": str(result.remaining_due),
    }


@bp.post("/cards/<int:card_id>/load")
@roles(*TILL)
@operation("Cards", CardLoad, errors=(404, 410), refusals=LOAD_REFUSALS)
@idempotent
def card_load(card_id: int, json: Load):
    """Top a card up

    With cash taken at the counter; the card's id as for a redemption.
    """
    card = _card_by_id(card_id)
    tx = operations.load(
        db.session, card, _amount(json, card.currency), actor=_actor(), idempotency_key=request_key(),
        source="cash", merchant=_merchant(),
    )
    return {"transaction": out.transaction(tx, account_id=card.account_id), "card": out.card(card)}


@bp.get("/cards/<int:card_id>/transactions")
@roles(*TILL)
@operation("Cards", CardHistory, errors=(404, 410))
def card_transactions(card_id: int, query: PageQuery):
    """A card's history

    Newest first, a page at a time. Staff see only cards of their own store or of the whole network.
    """
    card = _card_by_id(card_id, own_store_only=True)
    select = sa.select(Transaction.id, Transaction).where(Transaction.card_id == card.id)
    rows, cursor = keyset(db.session, select, requested_page(query), Transaction.id)
    return {
        "card": out.card(card),
        "transactions": [out.transaction(tx, account_id=card.account_id) for tx in rows],
        "next_cursor": cursor,
    }


@bp.post("/transactions/<int:transaction_id>/reverse")
@roles(*TILL)
@operation("Cards", Reversal, status=201, errors=(404,), refusals=("insufficient_funds",))
@idempotent
def transaction_reverse(transaction_id: int, json: Reverse):
    """Undo a transaction

    Staff undo their own store's transactions of today; admins any.
    """
    tx = operations.reverse(
        db.session, transaction_id, actor=_actor(), idempotency_key=request_key(),
        reason=json.reason, staff_merchant=_merchant(),
    )
    return {"transaction": out.transaction(tx)}, 201
