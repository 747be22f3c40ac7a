"""Users and their roles."""

from __future__ import annotations

from flask import render_template, request, url_for
from wtforms import SelectChoice

from portal.admin import bp, queries
from portal.admin.forms import RoleForm
from portal.admin.people import change_role
from portal.admin.responses import actor, done, refuse
from portal.errors import DomainError
from portal.extensions import db
from portal.models import Merchant
from portal.models.users import ROLES


@bp.get("/users")
def users():
    """List people, by role or by part of their e-mail address or name."""
    role = request.args.get("role") if request.args.get("role") in ROLES else None
    text = (request.args.get("q") or "").strip() or None
    page = queries.people(db.session, role=role, text=text, number=queries.page_number(request.args.get("page")))
    return render_template("admin/users/index.html", page=page, role=role, q=text or "", roles=ROLES)


def _role_form(user) -> RoleForm:
    form = RoleForm()
    form.merchant.choices = [SelectChoice("", "—")] + [
        SelectChoice(m.slug, m.name) for m in db.session.scalars(db.select(Merchant).order_by(Merchant.name))
    ]
    if request.method == "GET":
        form.role.data = user.role
        form.merchant.data = user.merchant.slug if user.merchant else ""
    return form


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user(user_id: int):
    """Show a person and change their role, with a reason."""
    found = queries.person(db.session, user_id)
    form = _role_form(found)
    status = 200
    if form.validate_on_submit():
        merchant = None
        if form.merchant.data:
            merchant = db.session.scalar(db.select(Merchant).where(Merchant.slug == form.merchant.data))
        try:
            change_role(db.session, found, form.role.data, merchant, actor=actor(), reason=form.reason.data)
        except DomainError as error:
            status = refuse(form, error)
        else:
            db.session.commit()
            return done(url_for(".user", user_id=found.id), f"{found.email} is now {found.role}.")
    elif request.method == "POST":
        status = 422
    return render_template("admin/users/detail.html", person=found, form=form), status
