"""Gift subscriptions through the API (DESIGN §5): buy, send, cancel, check and redeem, on the same
domain calls as the pages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g

from portal.api import bp
from portal.api import schemas as out
from portal.api.contract import operation
from portal.api.coupons import COUPON_REFUSALS
from portal.api.idempotency import idempotent, request_key
from portal.api.models.gifts import (
    BoughtGift,
    Gift,
    GiftCheck,
    GiftCodeBody,
    GiftList,
    GiftRedemption,
    PurchaseGift,
)
from portal.api.models.paging import GiftPageQuery
from portal.api.paging import keyset, requested_page
from portal.errors import NotFound
from portal.extensions import db
from portal.gifts import (
    cancel_gift,
    check_gift,
    full_code,
    purchase_gift,
    redeem_gift_code,
    send_gift,
)
from portal.gifts.purchase import NOT_YOURS
from portal.gifts.queries import received_by, sent_by, visible_gift
from portal.ledger import Actor
from portal.models import User
from portal.models.gifts import GiftSubscription
from portal.services import services
from portal.web.guards import roles
from portal.web.guessing import guarded

# What stops a gift being sent or redeemed: not yet (validation_error), or it has ended.
ENDED = ("expired", "cancelled", "already_redeemed")


def _customer() -> User:
    return g.api_token.user


def gift_body(gift: GiftSubscription, user: User) -> dict:
    """A gift as its buyer sees it (full code, what was paid) or as its recipient does (neither)."""
    body = {
        "id": gift.id,
        "code_masked": gift.code.masked,
        "subscription_identifier": gift.plan.identifier,
        "plan_name": gift.plan.name,
        "subscription_duration_days": gift.subscription_duration_days,
        "status": gift.status,
        "recipient_email": gift.recipient_email,
        "message": gift.message,
        "from": gift.buyer.name or gift.buyer.email,
        "created_at": out.when(gift.created_at),
        "sent_at": out.when(gift.sent_at),
        "expires_at": out.when(gift.expires_at),
        "redeemed_at": out.when(gift.redeemed_at),
    }
    if gift.buyer_id == user.id:
        body.update(
            gift_code=full_code(services().vault, gift),
            payment_method=gift.payment_method,
            currency=gift.currency,
            price=out.amount(gift.price, gift.currency),
            discount=out.amount(gift.discount, gift.currency),
            amount_paid=out.amount(gift.amount, gift.currency),
            paid=gift.paid,
            paid_at=out.when(gift.paid_at),
        )
    return body


def _own_gift(gift_id: int) -> GiftSubscription:
    gift = db.session.get(GiftSubscription, gift_id)
    if gift is None or gift.buyer_id != _customer().id:
        raise NotFound(NOT_YOURS)
    return gift


def _gift_page(which, query: GiftPageQuery) -> dict:
    user = _customer()
    select = sa.select(GiftSubscription.id, GiftSubscription).where(which(user))
    gifts, cursor = keyset(db.session, select, requested_page(query), GiftSubscription.id)
    return {"gifts": [gift_body(gift, user) for gift in gifts], "next_cursor": cursor}


@bp.get("/gifts/sent")
@roles("customer")
@operation("Gifts", GiftList)
def gifts_sent_list(query: GiftPageQuery):
    """Gifts the customer bought

    Paid for, newest first, with full codes, a page at a time. A gift still waiting for its payment (the
    pages' first step) is not a gift yet and is not listed.
    """
    return _gift_page(_bought_and_paid, query)


def _bought_and_paid(user: User):
    return sa.and_(sent_by(user), GiftSubscription.paid_at.is_not(None))


@bp.get("/gifts/received")
@roles("customer")
@operation("Gifts", GiftList)
def gifts_received_list(query: GiftPageQuery):
    """Gifts sent to the customer

    Gifts to the customer's address once sent, and open gifts they redeemed; newest first, a page at a time.
    """
    return _gift_page(received_by, query)


@bp.get("/gifts/<int:gift_id>")
@roles("customer")
@operation("Gifts", Gift, errors=(404,))
def gift_show(gift_id: int):
    """One gift

    One the customer bought or was sent; the buyer also sees its code and payment.
    """
    user = _customer()
    gift = visible_gift(db.session, user, gift_id)
    if gift is None:
        raise NotFound(NOT_YOURS)
    return gift_body(gift, user)


@bp.post("/gifts/purchase")
@roles("customer")
@operation("Gifts", BoughtGift, status=201, errors=(404,), refusals=("insufficient_funds", *COUPON_REFUSALS))
@idempotent
def gift_purchase(json: PurchaseGift):
    """Buy a gift subscription

    Paid at once from wallet credit (in the plan's currency) or Loops, less the coupon's discount; it waits,
    paid, as `created` until it is sent.
    """
    user = _customer()
    choices = json.model_dump()
    with guarded():  # an unknown coupon counts as a guess, as at a till
        gift, _ = purchase_gift(
            db.session, services().vault, user, actor=Actor(user_id=user.id, token_id=g.api_token.id),
            idempotency_key=request_key(), channel="api", **choices,
        )
    return gift_body(gift, user), 201


@bp.post("/gifts/check")
@roles("customer")
@operation("Gifts", GiftCheck, errors=(404,))
def gift_check(json: GiftCodeBody):
    """Could I redeem this gift code?

    Whether the customer could redeem it now and why not; nothing changes. An unknown code counts as a failed
    guess.
    """
    user = _customer()
    with guarded():
        checked = check_gift(db.session, services().vault, json.gift_code, user)
    return {
        "gift_code": checked.gift.code.masked,
        "subscription_identifier": checked.gift.plan.identifier,
        "can_redeem": checked.can_redeem,
        "error": checked.error.code if checked.error else None,
        "message": checked.message,
    }


@bp.post("/gifts/redeem")
@roles("customer")
@operation("Gifts", GiftRedemption, errors=(404,), refusals=ENDED)
@idempotent
def gift_redeem(json: GiftCodeBody):
    """Redeem a gift code

    Needs the gift sent and unexpired and the caller to be the named friend (if any). Gifts stack: a caller
    who holds the plan already gets the gift's days after their own period ends. The subscription starts
    (or grows), or the refusal changes nothing.
    """
    user = _customer()
    with guarded():
        redeemed = redeem_gift_code(db.session, services().vault, json.gift_code, user)
    return {"gift": gift_body(redeemed.gift, user), "subscription": out.entitlement(redeemed.subscription)}


@bp.post("/gifts/<int:gift_id>/send")
@roles("customer")
@operation("Gifts", BoughtGift, errors=(404,), refusals=ENDED)
@idempotent
def gift_send(gift_id: int):
    """Send a paid gift

    The named friend gets its code by e-mail; an open gift's code is the buyer's to hand on.
    """
    user = _customer()
    return gift_body(send_gift(db.session, services().vault, _own_gift(gift_id), user=user), user)


@bp.post("/gifts/<int:gift_id>/cancel")
@roles("customer")
@operation("Gifts", BoughtGift, errors=(404,), refusals=("already_redeemed",))
@idempotent
def gift_cancel(gift_id: int):
    """Cancel a gift

    Only the buyer, and only before it is redeemed; what was paid goes back to the wallet or Loops.
    """
    user = _customer()
    return gift_body(cancel_gift(db.session, _own_gift(gift_id), user=user), user)
