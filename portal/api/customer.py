"""The customer's own writes: redeem any code, turn Loops into a card, give a card, claim one."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, request

from portal.api import bp
from portal.api import schemas as out
from portal.api.idempotency import idempotent, request_key
from portal.cards.transfers import claim_transfer, start_transfer
from portal.claims import redeem_any
from portal.customer.queries import currencies
from portal.errors import NotFound, ValidationError
from portal.extensions import db
from portal.ledger import Actor
from portal.loyalty.conversion import convert
from portal.loyalty.points import loops_account
from portal.merchants import by_slug
from portal.models import GiftCard, User
from portal.models.campaigns import Entitlement
from portal.money import Money
from portal.services import services
from portal.wallet import wallet_account
from portal.web.guards import roles
from portal.web.guessing import guarded


def _customer() -> User:
    return g.api_token.user


def _actor() -> Actor:
    return Actor(user_id=_customer().id, token_id=g.api_token.id)


def _required_str(body: dict, name: str, *, max_length: int = 200, example: str = "") -> str:
    value = out.optional_str(body, name, max_length=max_length)
    if not value:
        raise ValidationError(f"Give a {name.replace('_', ' ')}{f', like {example}' if example else ''}", field=name)
    return value


@bp.post("/me/redeem")
@roles("customer")
@idempotent
def my_redeem():
    """Redeem any code, as the wallet's "Redeem a code" does: a card, a friend's card, credit or a feature."""
    body = out.json_object(request)
    text = _required_str(body, "code", example='"GC-…" or "SPRING5"')
    user = _customer()
    with guarded(text):
        redeemed = redeem_any(db.session, services().vault, services().qr, text, user, channel="api")
    answer: dict = {"kind": redeemed.kind, "message": redeemed.message}
    if redeemed.card is not None:
        answer["card"] = out.card(redeemed.card)
    elif redeemed.kind == "credit":
        account = wallet_account(db.session, user, redeemed.code.credit.currency)
        answer["wallet"] = {"balance": out.amount(account.balance, account.currency), "currency": account.currency}
    elif redeemed.kind == "gift":
        answer["entitlement"] = out.entitlement(redeemed.gift.subscription)
    elif redeemed.kind == "feature":
        answer["entitlement"] = out.entitlement(
            db.session.scalar(
                sa.select(Entitlement).where(Entitlement.user_id == user.id, Entitlement.feature == redeemed.code.feature)
            )
        )
    return answer


@bp.post("/me/points/convert")
@roles("customer")
@idempotent
def my_points_convert():
    """Turn Loops into a new promotional card at the customer's tier rate (or a merchant's own)."""
    body = out.json_object(request)
    merchant = None
    if slug := out.optional_str(body, "merchant", max_length=40):
        merchant = by_slug(db.session, slug)
        if merchant is None:
            raise ValidationError(f"No merchant with slug {slug}", field="merchant")
    currency = (out.optional_str(body, "currency", max_length=8) or "").upper()
    if merchant is not None:
        currency = currency or merchant.currency
    else:
        offered = currencies(db.session)
        currency = currency or (offered[0] if len(offered) == 1 else "")
        if currency not in offered:
            raise ValidationError(f"Give a currency, one of {', '.join(offered)}", field="currency")
    if "amount" not in body:
        raise ValidationError("Give an amount, like \"12.50\"", field="amount")
    user = _customer()
    issued = convert(
        db.session, services().vault, user, Money.parse(body["amount"], currency), actor=_actor(),
        idempotency_key=request_key(), merchant=merchant,
    )
    loops = loops_account(db.session, user)
    answer = out.card(issued.card)
    answer["code"] = issued.code
    answer["loops_spent"] = -sum(e.amount for e in issued.transaction.entries if e.account_id == loops.id)
    return answer, 201


@bp.post("/me/cards/<int:card_id>/transfer")
@roles("customer")
@idempotent
def my_card_transfer(card_id: int):
    """Hold one of the customer's cards for a friend; the claim code is in this answer only."""
    body = out.json_object(request)
    user = _customer()
    card = db.session.get(GiftCard, card_id)
    if card is None or card.owner_id != user.id:
        raise NotFound("You have no gift card with that number")
    transfer, code = start_transfer(
        db.session, services().vault, card, actor=_actor(), to_email=out.optional_str(body, "to_email", max_length=254),
    )
    return {
        "transfer_id": transfer.id,
        "status": transfer.status,
        "claim_code": code,
        "expires_at": out.when(transfer.expires_at),
        "card": out.card(card),
    }, 201


@bp.post("/transfers/claim")
@roles("customer")
@idempotent
def transfer_claim():
    """Claim a card a friend gave, by its claim code."""
    body = out.json_object(request)
    code = _required_str(body, "claim_code", max_length=40, example='"GL-…"')
    with guarded():
        card = claim_transfer(db.session, services().vault, code, _customer())
    return {"card": out.card(card)}
