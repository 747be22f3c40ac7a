"""Selling a new card or topping one up, for cash at the counter."""

from __future__ import annotations

import qrcode
import qrcode.image.svg
from flask import current_app
from markupsafe import Markup

from portal.cards import operations
from portal.cards.lookup import find_card
from portal.errors import DomainError, IdempotencyConflict
from portal.extensions import db
from portal.merchant import bp
from portal.merchant.forms import LoadForm, SellForm, blank
from portal.merchant.routes import actor, answer, store
from portal.merchants import confirm_sales_above
from portal.models import Merchant
from portal.money import Money
from portal.services import services
from portal.till import checkout
from portal.web.guessing import guarded
from portal.web.render import page_or_fragment
from portal.web.responses import refuse

USED = "This form was already sent with other details; nothing more was done. Please fill in the new form."


def qr_svg(text: str) -> Markup:
    """The plain code as an inline SVG QR code, for a printed or e-mailed card."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = image.to_string(encoding="unicode")
    return Markup(svg.replace("<svg ", '<svg class="qr" role="img" aria-label="QR code of the card\'s code" ', 1))


def unconfirmed(form: SellForm | LoadForm, amount: Money, merchant: Merchant) -> Money | None:
    """The limit passed, when the amount must be confirmed before it is sold or loaded: above
    the merchant's limit (``confirm_sales_above``) a sale or top-up goes through only from the
    button that names this very amount (a changed amount is asked again). A second step of the
    form, not a script's confirm(), so it holds without JavaScript too."""
    limit = confirm_sales_above(merchant, current_app.config["COUNTER_CONFIRM_ABOVE"], amount.currency)
    if amount > limit and form.confirmed.data != str(amount):
        return limit
    return None


def focus(sell: SellForm, load: LoadForm, *, loaded: bool) -> str:
    """The field the cursor starts in: the one with a problem, else where the next sale begins."""
    if load.code.errors or load.form_errors:
        return load.code.id
    if load.amount.errors:
        return load.amount.id
    if loaded:
        return load.amount.id
    return sell.amount.id


def sell_page(status: int = 200, *, fragment: str = "merchant/_sell.html", **parts):
    """The sell page: the page on a first load, the section that changed for htmx."""
    sell = parts.setdefault("sell", blank(SellForm, prefix="sell"))
    load = parts.setdefault("load", blank(LoadForm, prefix="load"))
    parts.setdefault("focus", focus(sell, load, loaded=parts.get("loaded") is not None))
    response = page_or_fragment("merchant/sell.html", fragment, status, merchant=store(), **parts)
    if parts.get("issued") is not None:
        # The full code is on this page: no cache may keep it.
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/sell")
def sell():
    """Show the forms to sell a new card or top one up, for cash."""
    return sell_page()


@bp.post("/sell")
def sell_card():
    """Sell a new card for cash and show its full code once, ready to print."""
    form = SellForm(prefix="sell")
    merchant = store()
    try:
        amount = Money.parse(form.amount.data, merchant.currency)
        owner = checkout.customer_by_email(db.session, form.email.data)
        if (limit := unconfirmed(form, amount, merchant)) is not None:
            return sell_page(sell=form, confirm={"form": form, "amount": amount, "limit": limit})
        issued = operations.issue_card(
            db.session, services().vault, amount=amount, actor=actor(), idempotency_key=checkout.web_key(form.key.data),
            owner=owner, merchant=merchant, memo="Sold for cash at the counter",
        )
        db.session.commit()
    except IdempotencyConflict:
        form = blank(SellForm, prefix="sell")
        return sell_page(refuse(form, IdempotencyConflict(USED)), sell=form)
    except DomainError as error:
        return answer(sell_page(refuse(form, error), sell=form), error)
    return sell_page(issued=issued, qr=qr_svg(issued.code))


@bp.post("/load")
def load_card():
    """Top a card up with cash taken at the counter."""
    form = LoadForm(prefix="load")
    merchant = store()
    try:
        key = checkout.web_key(form.key.data)
        with guarded():
            card = find_card(db.session, form.code.data or "", services().vault, services().qr)
        amount = Money.parse(form.amount.data, card.currency)
        if (limit := unconfirmed(form, amount, merchant)) is not None:
            return sell_page(fragment="merchant/_load.html", load=form,
                             confirm={"form": form, "amount": amount, "limit": limit})
        loaded = operations.load(
            db.session, card, amount, actor=actor(), idempotency_key=key, source="cash", merchant=merchant
        )
        db.session.commit()
    except IdempotencyConflict:
        form = blank(LoadForm, prefix="load")
        return sell_page(refuse(form, IdempotencyConflict(USED)), fragment="merchant/_load.html", load=form)
    except DomainError as error:
        status = refuse(form, error)
        return answer(sell_page(status, fragment="merchant/_load.html", load=form), error)
    return sell_page(fragment="merchant/_load.html", loaded=loaded, card=card, added=amount)
