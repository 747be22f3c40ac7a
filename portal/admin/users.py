"""Users and their roles."""

from __future__ import annotations

from flask import render_template, request, url_for
from wtforms import SelectChoice

from portal.admin import bp, queries
from portal.admin.forms import ReasonForm, RoleForm
from portal.admin.people import change_role, disable_user, enable_user
from portal.admin.responses import actor
from portal.errors import DomainError
from portal.extensions import db
from portal.merchants import by_slug
from portal.models import Merchant, utcnow
from portal.models.users import ROLES
from portal.tokens import live_tokens, revoke_all_tokens
from portal.web.render import done
from portal.web.responses import on_submit, refuse


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

    def change():
        merchant = by_slug(db.session, form.merchant.data) if form.merchant.data else None
        change_role(db.session, found, form.role.data, merchant, actor=actor(), reason=form.reason.data)

    return on_submit(
        form, change, lambda _: done(url_for(".user", user_id=found.id), f"{found.email} is now {found.role}."),
        lambda status: _page(found, status, form=form),
    )


def _page(person, status: int = 200, **given):
    """The person's page with its forms: role, disable or enable, revoke tokens."""
    forms = {"access_form": ReasonForm(prefix="access"), "tokens_form": ReasonForm(prefix="tokens"), **given}
    if "form" not in forms:
        forms["form"] = _role_form(person)
    return render_template(
        "admin/users/detail.html", person=person, tokens=live_tokens(db.session, person), now=utcnow(), **forms,
    ), status


def _act(user_id: int, form_name: str, change, message):
    """Run one reasoned action on a person; the page shows a refusal by its form."""
    found = queries.person(db.session, user_id)
    form = ReasonForm(prefix=form_name.removesuffix("_form"))
    try:
        result = change(found, form.reason.data)
    except DomainError as error:
        return _page(found, refuse(form, error), **{form_name: form})
    db.session.commit()
    return done(url_for(".user", user_id=found.id), message(found, result))


@bp.post("/users/<int:user_id>/disable")
def user_disable(user_id: int):
    """Disable an account: its sessions end and its tokens stop working at once."""
    return _act(user_id, "access_form",
                lambda person, reason: disable_user(db.session, person, actor=actor(), reason=reason),
                lambda person, _: f"{person.email} is disabled and signed out everywhere.")


@bp.post("/users/<int:user_id>/enable")
def user_enable(user_id: int):
    """Let a disabled account sign in again."""
    return _act(user_id, "access_form",
                lambda person, reason: enable_user(db.session, person, actor=actor(), reason=reason),
                lambda person, _: f"{person.email} can sign in again.")


@bp.post("/users/<int:user_id>/tokens/revoke")
def user_tokens_revoke(user_id: int):
    """Revoke every API token a person holds."""
    return _act(user_id, "tokens_form",
                lambda person, reason: revoke_all_tokens(db.session, person, actor=actor(), reason=reason),
                lambda person, count: f"{count} API token{'s' if count != 1 else ''} of {person.email} revoked.")
