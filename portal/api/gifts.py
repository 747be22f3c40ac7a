"""Gift subscriptions through the API (DESIGN §5): buy, send, cancel, check and redeem, on the same
domain calls as the pages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, request

from portal.api import bp
from portal.api import schemas as out
from portal.api.idempotency import idempotent, request_key
from portal.api.paging import keyset, requested_page
from portal.errors import NotFound, ValidationError
from portal.extensions import db
from portal.gifts import cancel_gift, check_gift, full_code, purchase_gift, redeem_gift_code, send_gift
from portal.gifts.purchase import NOT_YOURS
from portal.gifts.queries import received_by, sent_by, visible_gift
from portal.ledger import Actor
from portal.models import User
from portal.models.gifts import GiftSubscription
from portal.services import services
from portal.web.guards import roles
from portal.web.guessing import guarded

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


def _gift_page(which) -> dict:
    user = _customer()
    query = sa.select(GiftSubscription.id, GiftSubscription).where(which(user))
    gifts, cursor = keyset(db.session, query, requested_page(), GiftSubscription.id)
    return {"gifts": [gift_body(gift, user) for gift in gifts], "next_cursor": cursor}


@bp.get("/gifts/sent")
@roles("customer")
def gifts_sent_list():
    """The gifts the customer bought, newest first, a page at a time."""
    return _gift_page(sent_by)


@bp.get("/gifts/received")
@roles("customer")
def gifts_received_list():
    """Gifts sent to the customer's address, and open gifts they redeemed; newest first, a page at a time."""
    return _gift_page(received_by)


@bp.get("/gifts/<int:gift_id>")
@roles("customer")
def gift_show(gift_id: int):
    """One gift the customer bought or was sent."""
    user = _customer()
    gift = visible_gift(db.session, user, gift_id)
    if gift is None:
        raise NotFound(NOT_YOURS)
    return gift_body(gift, user)


@bp.post("/gifts/purchase")
@roles("customer")
@idempotent
def gift_purchase():
    """Buy a gift and pay for it; it waits, paid, as ``created`` until it is sent."""
    body = out.json_object(request)
    user = _customer()
    choices = {
        name: body.get(name)
        for name in ("subscription_identifier", "payment_method", "recipient_email", "message", "coupon",
                     "gift_duration_days", "subscription_duration_days")
    }
    with guarded():  # an unknown coupon counts as a guess, as at a till
        gift, _ = purchase_gift(
            db.session, services().vault, user, actor=Actor(user_id=user.id, token_id=g.api_token.id),
            idempotency_key=request_key(), channel="api", **choices,
        )
    return gift_body(gift, user), 201


@bp.get("/gifts/check/<path:code>")
@roles("customer")
def gift_check(code: str):
    """Whether the customer could redeem this gift code now; changes nothing."""
    user = _customer()
    with guarded():
        checked = check_gift(db.session, services().vault, code, user)
    return {
        "gift_code": checked.gift.code.masked,
        "subscription_identifier": checked.gift.plan.identifier,
        "can_redeem": checked.can_redeem,
        "error": checked.error.code if checked.error else None,
        "message": checked.message,
    }


@bp.post("/gifts/redeem")
@roles("customer")
@idempotent
def gift_redeem():
    """Redeem a gift code: the customer's subscription starts (or refusal, changing nothing)."""
    body = out.json_object(request)
    code = body.get("gift_code")
    if not isinstance(code, str) or not code.strip():
        raise ValidationError('Give a gift_code, like "GIFT-…"', field="gift_code")
    user = _customer()
    with guarded():
        redeemed = redeem_gift_code(db.session, services().vault, code, user)
    return {"gift": gift_body(redeemed.gift, user), "subscription": out.entitlement(redeemed.subscription)}


@bp.post("/gifts/<int:gift_id>/send")
@roles("customer")
@idempotent
def gift_send(gift_id: int):
    """Send a paid gift: the named friend gets its code by e-mail; an open gift's code is the buyer's to hand on."""
    user = _customer()
    return gift_body(send_gift(db.session, services().vault, _own_gift(gift_id), user=user), user)


@bp.post("/gifts/<int:gift_id>/cancel")
@roles("customer")
@idempotent
def gift_cancel(gift_id: int):
    """Cancel a gift not yet redeemed; what was paid goes back to the wallet or Loops."""
    user = _customer()
    return gift_body(cancel_gift(db.session, _own_gift(gift_id), user=user), user)
