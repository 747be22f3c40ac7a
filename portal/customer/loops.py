"""Turning Loops into a gift card, with the cost and expiry shown as the customer types."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_login import current_user
from wtforms import SelectChoice

from portal.customer import bp
from portal.customer.forms import ConvertForm
from portal.customer.queries import convert_preview, currencies, loops_balance, merchants
from portal.errors import DomainError, ValidationError
from portal.extensions import db
from portal.ledger import Actor
from portal.loyalty.conversion import convert
from portal.loyalty.points import conversion_rate
from portal.loyalty.tiers import tier_for
from portal.models import Merchant
from portal.money import Money
from portal.services import services
from portal.web.render import done, page_or_fragment
from portal.web.responses import refuse


def _form() -> ConvertForm:
    form = ConvertForm()
    form.currency.choices = [SelectChoice(code) for code in currencies(db.session)]
    form.merchant.choices = [SelectChoice("", "Any merchant")] + [
        SelectChoice(str(m.id), f"{m.name} only" + (f" ({m.conversion_rate} Loops per 1.00)" if m.conversion_rate else ""))
        for m in merchants(db.session)
    ]
    return form


def _chosen(merchant_field: str | None, currency_field: str | None) -> tuple[Merchant | None, str]:
    """The merchant the card is for (None: any) and the card's currency.

    Raise ValidationError for a merchant or currency that is not on offer.
    """
    merchant = None
    if merchant_field:
        merchant = db.session.get(Merchant, int(merchant_field)) if merchant_field.isdigit() else None
        if merchant is None:
            raise ValidationError("Choose a merchant from the list", field="merchant")
        return merchant, merchant.currency
    offered = currencies(db.session)
    currency = currency_field if currency_field in offered else offered[0] if len(offered) == 1 else None
    if currency is None:
        raise ValidationError("Choose a currency from the list", field="currency")
    return None, currency


def _preview(amount: str | None, merchant_field: str | None, currency_field: str | None):
    """The preview for what is typed so far, or the reason there is none yet."""
    if not (amount or "").strip():
        return None, None
    try:
        merchant, currency = _chosen(merchant_field, currency_field)
        return convert_preview(db.session, current_user, Money.parse(amount, currency), merchant), None
    except DomainError as error:
        return None, error.message


def _rate_context() -> dict:
    return {
        "loops": loops_balance(db.session, current_user),
        "tier": tier_for(current_user.lifetime_loops),
        "tier_rate": conversion_rate(current_user),
    }


@bp.route("/loops/convert", methods=["GET", "POST"])
def convert_loops():
    """Turn Loops into a new gift card at the customer's tier rate (or a merchant's own rate)."""
    form = _form()
    status = 200
    if form.validate_on_submit():
        try:
            merchant, currency = _chosen(form.merchant.data, form.currency.data)
            value = Money.parse(form.amount.data, currency)
            issued = convert(
                db.session, services().vault, current_user, value,
                actor=Actor(user_id=current_user.id), idempotency_key=form.domain_key(), merchant=merchant,
            )
        except DomainError as error:
            status = refuse(form, error)
        else:
            db.session.commit()
            return done(
                url_for(".card", card_id=issued.card.id),
                f"Your {value.display()} gift card is ready. Show its QR code at the till.",
            )
    elif form.errors:
        status = 422
    preview, problem = _preview(form.amount.data, form.merchant.data, form.currency.data)
    return page_or_fragment(
        "customer/loops/convert.html", "customer/loops/_convert.html", status,
        form=form, preview=preview, problem=problem, **_rate_context(),
    )


@bp.get("/loops/convert/preview")
def convert_loops_preview():
    """What the card being typed would cost in Loops and when it would expire."""
    args = request.args
    preview, problem = _preview(args.get("amount"), args.get("merchant"), args.get("currency"))
    return render_template(
        "customer/loops/_convert_preview.html", preview=preview, problem=problem, **_rate_context()
    )
