"""The customer's own writes: redeem any code, turn Loops into a card, give a card, claim one."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g

from portal.api import bp
from portal.api import schemas as out
from portal.api.contract import operation
from portal.api.idempotency import idempotent, request_key
from portal.api.models.me import (
    ClaimedCard,
    ClaimTransfer,
    ConvertedCard,
    ConvertLoops,
    RedeemCode,
    Redeemed,
    StartTransfer,
    TransferStarted,
)
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
from portal.services import services
from portal.wallet import wallet_account
from portal.web.guards import roles
from portal.web.guessing import guarded


def _customer() -> User:
    return g.api_token.user


def _actor() -> Actor:
    return Actor(user_id=_customer().id, token_id=g.api_token.id)


# What a code may turn out to be unable to do.
CODE_REFUSALS = ("expired", "frozen", "cancelled", "already_redeemed", "usage_limit_reached", "not_valid_here")


@bp.post("/me/redeem")
@roles("customer")
@operation("Me", Redeemed, errors=(404,), refusals=CODE_REFUSALS)
@idempotent
def my_redeem(json: RedeemCode):
    """Redeem any code

    As the wallet's "Redeem a code" does: a bearer card's code claims the card, a friend's claim code the card
    given, a credit code fills the wallet and a feature code unlocks the feature.
    """
    text = json.code
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
@operation("Me", ConvertedCard, status=201, refusals=("insufficient_funds", "currency_mismatch"))
@idempotent
def my_points_convert(json: ConvertLoops):
    """Turn Loops into a gift card

    A new promotional card, at the customer's tier rate or a merchant's own rate for a card only for it.
    """
    merchant = None
    if slug := json.merchant:
        merchant = by_slug(db.session, slug)
        if merchant is None:
            raise ValidationError(f"No merchant with slug {slug}", field="merchant")
    currency = (json.currency or "").upper()
    if merchant is not None:
        currency = currency or merchant.currency
    else:
        offered = currencies(db.session)
        currency = currency or (offered[0] if len(offered) == 1 else "")
        if currency not in offered:
            raise ValidationError(f"Give a currency, one of {', '.join(offered)}", field="currency")
    user = _customer()
    issued = convert(
        db.session, services().vault, user, json.money("amount", currency), actor=_actor(),
        idempotency_key=request_key(), merchant=merchant,
    )
    loops = loops_account(db.session, user)
    answer = out.card(issued.card)
    answer["code"] = issued.code
    answer["loops_spent"] = -sum(e.amount for e in issued.transaction.entries if e.account_id == loops.id)
    return answer, 201


@bp.post("/me/cards/<int:card_id>/transfer")
@roles("customer")
@operation("Me", TransferStarted, status=201, errors=(404,), refusals=("expired", "frozen", "cancelled"))
@idempotent
def my_card_transfer(card_id: int, json: StartTransfer):
    """Give a card to a friend

    The card is held until the friend claims it; the claim code is in this answer only. Only the owner's cards
    are found.
    """
    user = _customer()
    card = db.session.get(GiftCard, card_id)
    if card is None or card.owner_id != user.id:
        raise NotFound("You have no gift card with that number")
    transfer, code = start_transfer(
        db.session, services().vault, card, actor=_actor(), to_email=json.to_email or None,
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
@operation("Me", ClaimedCard, errors=(404,), refusals=("expired", "frozen", "already_redeemed"))
@idempotent
def transfer_claim(json: ClaimTransfer):
    """Claim a card a friend gave

    By its claim code; a card sent to an e-mail address can only be claimed by that address.
    """
    with guarded():
        card = claim_transfer(db.session, services().vault, json.claim_code, _customer())
    return {"card": out.card(card)}
