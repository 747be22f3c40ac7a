"""Coupon endpoints (DESIGN §5): tills validate and redeem; admins create, read, change and delete."""

from __future__ import annotations

from flask import g

from portal.api import bp
from portal.api import schemas as out
from portal.api.contract import operation
from portal.api.idempotency import idempotent
from portal.api.models import coupons as schema
from portal.campaigns import (
    create_campaign,
    delete_campaign,
    read_spec,
    redeem_coupon,
    update_campaign,
    validate_coupon,
)
from portal.campaigns.codes import vanity_code
from portal.campaigns.conditions import WEEKDAYS, clock
from portal.campaigns.coupons import CouponQuote
from portal.campaigns.rules import format_percent
from portal.errors import NotFound
from portal.extensions import db
from portal.ledger import Actor
from portal.models.campaigns import Campaign
from portal.money import Money
from portal.programme import campaign_defaults, fill_defaults
from portal.services import services
from portal.web.guards import roles
from portal.web.guessing import guarded


def _actor() -> Actor:
    user = g.api_token.user
    return Actor(user_id=user.id, token_id=g.api_token.id, merchant_id=user.merchant_id)


def _order(body: schema.CouponOrder) -> tuple[str, Money, str | None]:
    """The code, the order total in the till's currency, and the customer's address."""
    return body.code, body.money("order_total", g.api_token.user.merchant.currency), body.customer_email or None


def _quote(quote: CouponQuote) -> dict:
    return {
        "discount": str(quote.discount),
        "total_after": str(quote.total_after),
        "currency": quote.order_total.currency,
        "coupon": {"id": quote.campaign.id, **_discount(quote.campaign)},
    }


def _discount(campaign: Campaign) -> dict:
    if campaign.discount_type == "percent":
        return {"discount_type": "percent", "discount_value": format_percent(campaign.percent_bp)}
    return {"discount_type": "fixed", "discount_value": out.amount(campaign.value, campaign.currency)}


def coupon(campaign: Campaign) -> dict:
    """A coupon as the API shows it to admins (a vanity code in full: the admin chose it)."""
    shared = vanity_code(db.session, campaign)
    return {
        "id": campaign.id,
        "name": campaign.name,
        "code": services().vault.decrypt(shared.code.ciphertext) if shared else None,
        **_discount(campaign),
        "currency": campaign.currency,
        "max_uses": campaign.max_uses,
        "uses": campaign.uses,
        "uses_per_user": campaign.uses_per_user,
        "expires_at": out.when(campaign.expires_at),
        "min_order": out.amount(campaign.min_order, campaign.currency),
        "merchants": [m.slug for m in campaign.merchants],
        "allowed_domains": list(campaign.allowed_domains),
        "channels": list(campaign.channels),
        "weekdays": [WEEKDAYS[day] for day in campaign.weekdays or []],
        "hours_from": clock(campaign.hours_from) if campaign.hours_from is not None else None,
        "hours_until": clock(campaign.hours_until) if campaign.hours_until is not None else None,
        "first_order_only": campaign.first_order_only,
        "max_discount": out.amount(campaign.max_discount, campaign.currency),
        "max_discount_per_customer": out.amount(campaign.max_discount_per_customer, campaign.currency),
        "created_at": out.when(campaign.created_at),
    }


def _spec(body: schema.CouponRules, *, used: int = 0, name: str | None = None, new: bool = False):
    """The rules as the campaign rules read them (``read_spec``), the admin pages' one reader; a
    ``new`` coupon takes the programme's defaults for coupons where the body leaves a rule out."""
    raw = body.model_dump()
    raw.update(kind="coupon", code_mode="vanity", name=body.name or name or _default_name(body))
    if new:
        raw = fill_defaults(raw, campaign_defaults(db.session, "coupon"))
    return read_spec(db.session, raw, used=used)


def _default_name(body: schema.CouponRules) -> str:
    """A coupon's name when none is given: what it takes off, never its code (a name is shown in
    lists and reports and kept in the audit log; the code is stored only as a hash and ciphertext)."""
    value = body.discount_value
    if len(str(value)) > 20:
        return "Coupon"
    if body.discount_type == "percent":
        return f"Coupon {value}% off"
    return f"Coupon {value} {(body.currency or '')[:3].upper()}".rstrip() + " off"


def _find(coupon_id: int) -> Campaign:
    campaign = db.session.get(Campaign, coupon_id)
    if campaign is None or campaign.kind != "coupon" or campaign.deleted_at is not None:
        raise NotFound("No coupon has that id")
    return campaign


# What a till may be told about a coupon: an unknown code is 404 (and a guess), these are 422.
COUPON_REFUSALS = ("expired", "usage_limit_reached", "already_redeemed", "not_valid_here", "currency_mismatch")


@bp.post("/coupons/validate")
@roles("merchant")
@operation("Coupons", schema.CouponQuote, errors=(404,), refusals=COUPON_REFUSALS)
def coupon_validate(json: schema.CouponOrder):
    """What a coupon takes off an order

    The discount for this order at the caller's store; nothing is used.
    """
    code, total, email = _order(json)
    with guarded():
        quote = validate_coupon(
            db.session, services().vault, code, order_total=total, merchant=g.api_token.user.merchant,
            channel="api", email=email, user_id=g.api_token.user.id,
        )
    return _quote(quote)


@bp.post("/coupons/redeem")
@roles("merchant")
@operation("Coupons", schema.CouponRedemption, errors=(404,), refusals=COUPON_REFUSALS)
@idempotent
def coupon_redeem(json: schema.CouponOrderRedeem):
    """Apply a coupon to an order

    One use is counted and the discount returned.
    """
    code, total, email = _order(json)
    with guarded():
        used = redeem_coupon(
            db.session, services().vault, code, order_total=total, merchant=g.api_token.user.merchant,
            channel="api", email=email, reference=json.reference or None,
            user_id=g.api_token.user.id,
        )
    answer = _quote(used.quote)
    answer["use"] = {"id": used.use.id, "reference": used.use.reference, "created_at": out.when(used.use.created_at)}
    return answer


@bp.post("/coupons")
@roles("admin")
@operation("Coupons", schema.Coupon, status=201)
@idempotent
def coupon_create(json: schema.CouponRules):
    """Create a coupon

    With a vanity code and its rules.
    """
    campaign = create_campaign(db.session, services().vault, _spec(json, new=True), actor=_actor())
    return coupon(campaign), 201


@bp.get("/coupons/<int:coupon_id>")
@roles("admin")
@operation("Coupons", schema.Coupon, errors=(404,))
def coupon_show(coupon_id: int):
    """A coupon

    With its rules and how often it was used.
    """
    return coupon(_find(coupon_id))


@bp.put("/coupons/<int:coupon_id>")
@roles("admin")
@operation("Coupons", schema.Coupon, errors=(404,))
@idempotent
def coupon_replace(coupon_id: int, json: schema.CouponRules):
    """Replace a coupon's rules

    The limit can never go below the uses already counted.
    """
    campaign = _find(coupon_id)
    spec = _spec(json, used=campaign.uses, name=campaign.name)
    return coupon(update_campaign(db.session, services().vault, campaign, spec, actor=_actor()))


@bp.delete("/coupons/<int:coupon_id>")
@roles("admin")
@operation("Coupons", status=204, errors=(404,))
@idempotent
def coupon_delete(coupon_id: int):
    """Delete a coupon

    Its code stops working; its uses stay on record.
    """
    delete_campaign(db.session, _find(coupon_id), actor=_actor())
    return "", 204
