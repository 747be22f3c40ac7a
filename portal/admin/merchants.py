"""Merchants and their staff."""

from __future__ import annotations

import re

from flask import render_template, request, url_for

from portal.admin import bp, queries
from portal.admin.forms import MerchantForm, StaffForm
from portal.admin.responses import actor
from portal.auth.users import create_user
from portal.errors import DomainError, ValidationError
from portal.extensions import db
from portal.ledger import audit
from portal.merchants import create_merchant
from portal.web.render import done
from portal.web.responses import refuse


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
    status = 200
    if form.validate_on_submit():
        try:
            merchant = create_merchant(
                db.session, form.slug.data, form.name.data, form.currency.data or "USD",
                loops_per_unit=_rate(form.loops_per_unit.data), timezone=form.timezone.data,
                sells_network_cards=form.sells_network_cards.data == "1",
            )
            audit(db.session, actor(), "merchant.created", f"merchant:{merchant.id}", "", slug=merchant.slug)
        except DomainError as error:
            status = refuse(form, error)
        else:
            db.session.commit()
            return done(url_for(".merchant", slug=merchant.slug), f"{merchant.name} was added.")
    elif request.method == "POST":
        status = 422
    return render_template("admin/merchants/index.html", merchants=queries.merchants(db.session), form=form), status


@bp.route("/merchants/<slug>", methods=["GET", "POST"])
def merchant(slug: str):
    """Show a merchant and its staff; add a member of staff."""
    found = queries.merchant(db.session, slug)
    form = StaffForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = create_user(db.session, form.email.data, form.password.data, role="merchant",
                               name=form.name.data or "", merchant=found)
            audit(db.session, actor(), "user.created", f"user:{user.id}", "", role="merchant", merchant=found.slug)
        except DomainError as error:
            status = refuse(form, error)
        else:
            db.session.commit()
            return done(url_for(".merchant", slug=found.slug), f"{user.email} can now sign in to {found.name}'s till.")
    elif request.method == "POST":
        status = 422
    return render_template(
        "admin/merchants/detail.html", merchant=found, staff=queries.staff_of(db.session, found.id), form=form,
    ), status
