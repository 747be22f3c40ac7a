"""Merchants and their staff."""

from __future__ import annotations

import re

from flask import current_app, render_template, url_for

from portal.admin import bp, queries
from portal.admin.forms import MerchantForm, StaffForm, TillLimitForm
from portal.admin.responses import actor
from portal.auth.users import create_user
from portal.errors import DomainError, ValidationError
from portal.extensions import db
from portal.ledger import audit
from portal.merchants import confirm_sales_above, create_merchant, default_confirm_limit, set_confirm_sales_above
from portal.models import Merchant
from portal.networks import networks_of
from portal.web.render import done
from portal.web.responses import on_submit, refuse


def _rate(text: str | None) -> int:
    """Loops per 1.00: a whole number from 0 to 1000."""
    text = (text or "").strip()
    # ASCII digits, at most four: str.isdigit() admits "²", and int() refuses 4,300+ digits, both
    # with an exception rather than an answer.
    if not re.fullmatch(r"[0-9]{1,4}", text) or int(text) > 1000:
        raise ValidationError("Give a whole number of Loops from 0 to 1000", field="loops_per_unit")
    return int(text)


@bp.route("/merchants", methods=["GET", "POST"])
def merchants():
    """List the merchants with their staff count; add a merchant."""
    form = MerchantForm()

    def add() -> Merchant:
        merchant = create_merchant(
            db.session, form.slug.data, form.name.data, form.currency.data or "USD",
            loops_per_unit=_rate(form.loops_per_unit.data), timezone=form.timezone.data,
            sells_network_cards=form.sells_network_cards.data == "1",
        )
        audit(db.session, actor(), "merchant.created", f"merchant:{merchant.id}", "", slug=merchant.slug)
        return merchant

    return on_submit(
        form, add, lambda merchant: done(url_for(".merchant", slug=merchant.slug), f"{merchant.name} was added."),
        lambda status: (
            render_template("admin/merchants/index.html", merchants=queries.merchants(db.session), form=form), status
        ),
    )


def _merchant_page(
    found: Merchant, status: int = 200, *, form: StaffForm | None = None, limit_form: TillLimitForm | None = None
):
    """The merchant's page: its rules, its till's confirmation limit and its staff, with their forms."""
    default = current_app.config["COUNTER_CONFIRM_ABOVE"]
    if limit_form is None:
        limit_form = TillLimitForm(formdata=None)
        if found.confirm_sales_above is not None:
            limit_form.confirm_sales_above.data = str(confirm_sales_above(found, default))
    return render_template(
        "admin/merchants/detail.html", merchant=found, staff=queries.staff_of(db.session, found.id),
        networks=networks_of(db.session, found),
        form=form if form is not None else StaffForm(formdata=None), limit_form=limit_form,
        confirm_limit=confirm_sales_above(found, default), default_limit=default_confirm_limit(default, found.currency),
    ), status


@bp.post("/merchants/<slug>/till")
def merchant_till(slug: str):
    """Set the amount above which the merchant's till asks to confirm a sale or top-up."""
    found = queries.merchant(db.session, slug)
    form = TillLimitForm()
    if not form.validate_on_submit():
        return _merchant_page(found, 422, limit_form=form)
    before = confirm_sales_above(found, current_app.config["COUNTER_CONFIRM_ABOVE"])
    try:
        set_confirm_sales_above(found, form.confirm_sales_above.data)
    except DomainError as error:
        return _merchant_page(found, refuse(form, error), limit_form=form)
    after = confirm_sales_above(found, current_app.config["COUNTER_CONFIRM_ABOVE"])
    audit(db.session, actor(), "merchant.confirm_limit", f"merchant:{found.id}", "",
          before=before.display(), after=after.display())
    db.session.commit()
    return done(url_for(".merchant", slug=found.slug),
                f"{found.name}'s till now asks to confirm sales and top-ups above {after.display()}.")


@bp.route("/merchants/<slug>", methods=["GET", "POST"])
def merchant(slug: str):
    """Show a merchant and its staff; add a member of staff."""
    found = queries.merchant(db.session, slug)
    form = StaffForm()

    def add():
        user = create_user(db.session, form.email.data, form.password.data, role="merchant",
                           name=form.name.data or "", merchant=found)
        audit(db.session, actor(), "user.created", f"user:{user.id}", "", role="merchant", merchant=found.slug)
        return user

    return on_submit(
        form, add,
        lambda user: done(url_for(".merchant", slug=found.slug), f"{user.email} can now sign in to {found.name}'s till."),
        lambda status: _merchant_page(found, status, form=form),
    )
