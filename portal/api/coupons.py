"""Coupon endpoints (DESIGN §5): tills validate and redeem; admins create, read, change and delete."""

from __future__ import annotations

from flask import g, request

from portal.api import bp
from portal.api import schemas as out
from portal.api.idempotency import idempotent
from portal.campaigns import (
    create_campaign, delete_campaign, read_spec, redeem_coupon, update_campaign, validate_coupon,
)
from portal.campaigns.codes import vanity_code
from portal.campaigns.coupons import CouponQuote
from portal.campaigns.rules import format_percent
from portal.errors import NotFound, ValidationError
from portal.extensions import db
from portal.ledger import Actor
from portal.models.campaigns import Campaign
from portal.money import Money
from portal.services import services
from portal.web.guards import roles
from portal.web.guessing import guarded

# The fields of a coupon as the API takes them; each is read by the campaign rule of its name.
FIELDS = (
    "code", "discount_type", "discount_value", "currency", "max_uses", "uses_per_user", "expires_at",
    "min_order", "merchants", "allowed_domains", "channels",
)
REQUIRED = ("code", "discount_type", "discount_value", "max_uses")


def _actor() -> Actor:
    user = g.api_token.user
    return Actor(user_id=user.id, token_id=g.api_token.id, merchant_id=user.merchant_id)


def _order(body: dict) -> tuple[str, Money, str | None]:
    """The code, the order total in the till's currency, and the customer's address."""
    code = body.get("code")
    if not isinstance(code, str) or not code.strip():
        raise ValidationError("Give the coupon code", field="code")
    merchant = g.api_token.user.merchant
    total = out.required_money(body, "order_total", merchant.currency, missing='Give the order total, like "40.00"')
    return code, total, out.optional_str(body, "customer_email", max_length=254)


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
    return {"discount_type": "fixed", "discount_value": str(Money(campaign.value, campaign.currency))}


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
        "min_order": str(Money(campaign.min_order, campaign.currency)) if campaign.min_order is not None else None,
        "merchants": [m.slug for m in campaign.merchants],
        "allowed_domains": list(campaign.allowed_domains),
        "channels": list(campaign.channels),
        "created_at": out.when(campaign.created_at),
    }


def _spec(body: dict, *, used: int = 0, name: str | None = None):
    missing = [name for name in REQUIRED if name not in body]
    if missing:
        raise ValidationError(f"Give {', '.join(missing)}", field=missing[0])
    unknown = sorted(set(body) - set(FIELDS) - {"name"})
    if unknown:
        raise ValidationError(f"Unknown field {unknown[0]}", field=unknown[0])
    raw = {key: body.get(key) for key in FIELDS}
    raw.update(kind="coupon", code_mode="vanity", name=body.get("name") or name or _default_name(body))
    return read_spec(db.session, raw, used=used)


def _default_name(body: dict) -> str:
    """A coupon's name when none is given: what it takes off, never its code (a name is shown in
    lists and reports and kept in the audit log; the code is stored only as a hash and ciphertext)."""
    value = body.get("discount_value")
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or len(str(value)) > 20:
        return "Coupon"
    if body.get("discount_type") == "percent":
        return f"Coupon {value}% off"
    currency = body.get("currency") if isinstance(body.get("currency"), str) else ""
    return f"Coupon {value} {currency[:3].upper()}".rstrip() + " off"


def _find(coupon_id: int) -> Campaign:
    campaign = db.session.get(Campaign, coupon_id)
    if campaign is None or campaign.kind != "coupon" or campaign.deleted_at is not None:
        raise NotFound("No coupon has that id")
    return campaign


@bp.post("/coupons/validate")
@roles("merchant")
def coupon_validate():
    """What a coupon takes off this order; nothing is used."""
    code, total, email = _order(out.json_object(request))
    with guarded():
        quote = validate_coupon(
            db.session, services().vault, code, order_total=total, merchant=g.api_token.user.merchant,
            channel="api", email=email,
        )
    return _quote(quote)


@bp.post("/coupons/redeem")
@roles("merchant")
@idempotent
def coupon_redeem():
    """Apply a coupon to an order: one use is counted and the discount returned."""
    body = out.json_object(request)
    code, total, email = _order(body)
    with guarded():
        used = redeem_coupon(
            db.session, services().vault, code, order_total=total, merchant=g.api_token.user.merchant,
            channel="api", email=email, reference=out.optional_str(body, "reference", max_length=100),
            user_id=g.api_token.user.id,
        )
    answer = _quote(used.quote)
    answer["use"] = {"id": used.use.id, "reference": used.use.reference, "created_at": out.when(used.use.created_at)}
    return answer


@bp.post("/coupons")
@roles("admin")
@idempotent
def coupon_create():
    """Create a coupon with a vanity code and its rules."""
    campaign = create_campaign(db.session, services().vault, _spec(out.json_object(request)), actor=_actor())
    return coupon(campaign), 201


@bp.get("/coupons/<int:coupon_id>")
@roles("admin")
def coupon_show(coupon_id: int):
    """A coupon with its rules and how often it was used."""
    return coupon(_find(coupon_id))


@bp.put("/coupons/<int:coupon_id>")
@roles("admin")
@idempotent
def coupon_replace(coupon_id: int):
    """Replace a coupon's rules (its limit never below the uses counted)."""
    campaign = _find(coupon_id)
    spec = _spec(out.json_object(request), used=campaign.uses, name=campaign.name)
    return coupon(update_campaign(db.session, services().vault, campaign, spec, actor=_actor()))


@bp.delete("/coupons/<int:coupon_id>")
@roles("admin")
@idempotent
def coupon_delete(coupon_id: int):
    """Delete a coupon: its code stops working; its uses stay on record."""
    delete_campaign(db.session, _find(coupon_id), actor=_actor())
    return "", 204
