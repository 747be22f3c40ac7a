"""The programme: its limits per currency (what the shop may sell and a card may hold), the rules
per kind of code (defaults for new campaigns, channels, roles) and the currencies it allows (audited)."""

from __future__ import annotations

from flask import render_template, request, url_for

from portal import programme as rules
from portal.admin import bp
from portal.admin.forms import ProgrammeCurrenciesForm, ProgrammeKindForm
from portal.admin.responses import actor
from portal.errors import DomainError, NotFound, ValidationError
from portal.extensions import db
from portal.orders.programme import LIMIT_NAMES, programme_for, set_limits
from portal.shop import shop_currency
from portal.web.render import done
from portal.web.responses import refuse


def _kind_form(kind_rules: rules.KindRules) -> ProgrammeKindForm:
    form = ProgrammeKindForm(formdata=None, prefix=kind_rules.kind)
    form.valid_days.data = str(kind_rules.default_valid_days or "")
    form.max_uses.data = str(kind_rules.default_max_uses or "")
    form.channels.data, form.roles.data = list(kind_rules.channels), list(kind_rules.roles)
    return form


def _page(status: int = 200, *, form=None, error=None, sent: dict[str, ProgrammeKindForm] | None = None,
          currencies_form: ProgrammeCurrenciesForm | None = None):
    """The programme page with every form; the one just sent (if refused) keeps what was typed."""
    sent = sent or {}
    kinds = [(kind_rules, sent.get(kind_rules.kind) or _kind_form(kind_rules)) for kind_rules in rules.all_rules(db.session)]
    if currencies_form is None:
        currencies_form = ProgrammeCurrenciesForm(formdata=None)
        currencies_form.currencies.data = ", ".join(rules.allowed_currencies(db.session))
    return render_template(
        "admin/programme.html", programme=programme_for(db.session, shop_currency()), names=LIMIT_NAMES,
        form=form, error=error, kinds=kinds, currencies_form=currencies_form,
    ), status


@bp.get("/programme")
def programme():
    """Show the limits of the shop's currency, the rules per kind of code and the allowed currencies."""
    return _page()


@bp.post("/programme")
def programme_save():
    """Set the limits; a bad value says which and why, and changes nothing."""
    currency = shop_currency()
    try:
        set_limits(db.session, actor(), currency, request.form)
    except ValidationError as error:
        db.session.rollback()
        return _page(400, form=request.form, error=error)
    db.session.commit()
    return done(url_for(".programme"), f"The {currency} programme limits are saved.")


@bp.post("/programme/kinds/<kind>")
def programme_kind(kind: str):
    """Set one kind of code's defaults, channels and roles; a bad value says which and changes nothing."""
    if kind not in rules.KINDS:
        raise NotFound("No kind of code has that name")
    form = ProgrammeKindForm(prefix=kind)
    values = {"valid_days": form.valid_days.data, "max_uses": form.max_uses.data,
              "channels": form.channels.data, "roles": form.roles.data}
    try:
        rules.set_kind_rules(db.session, actor(), kind, values)
    except DomainError as error:
        return _page(refuse(form, error), sent={kind: form})
    db.session.commit()
    return done(url_for(".programme"), f"The rules for {rules.KINDS[kind].lower()} are saved.")


@bp.post("/programme/currencies")
def programme_currencies():
    """Set the currencies campaigns and cards may be created in."""
    form = ProgrammeCurrenciesForm()
    try:
        allowed = rules.set_currencies(db.session, actor(), form.currencies.data)
    except DomainError as error:
        return _page(refuse(form, error), currencies_form=form)
    db.session.commit()
    return done(url_for(".programme"), f"Campaigns and cards may now be in {', '.join(allowed) or 'any currency'}.")
