"""The audit log: who did what to which thing, and why."""

from __future__ import annotations

from flask import request
from wtforms import SelectChoice

from portal.admin import bp, queries
from portal.admin.forms import AuditFilterForm
from portal.errors import DomainError
from portal.extensions import db
from portal.money import Money
from portal.web.render import page_or_fragment
from portal.web.responses import refuse


# Details counted in minor units of the event's ``currency``, by the name the log shows them under.
MONEY_DETAILS = {"delta": "change", "balance": "balance"}


def shown_detail(detail: dict | None) -> list[tuple[str, str]]:
    """An event's details as the log reads them: amounts as money ("change: -2.50 USD", not
    "delta: -250"). Events recorded before their currency was kept show their numbers as stored."""
    detail = dict(detail or {})
    currency = detail.pop("currency", None)
    if currency is None:
        return [(name, str(value)) for name, value in detail.items()]
    return [
        (MONEY_DETAILS[name], Money(value, currency).display()) if name in MONEY_DETAILS else (name, str(value))
        for name, value in detail.items()
    ]


@bp.get("/audit")
def audit():
    """List audit events newest first, filtered by action, actor, target and days."""
    form = AuditFilterForm(request.args)
    actions = queries.audit_actions(db.session)
    form.action.choices = [SelectChoice("", "Any action")] + [SelectChoice(a, a) for a in actions]
    names = ("action", "actor", "target", "since", "until")
    filters = {name: (getattr(form, name).data or "").strip() or None for name in names}
    status, events = 200, None
    try:
        events = queries.audit_events(db.session, **filters, number=queries.page_number(request.args.get("page")))
    except DomainError as error:
        status = refuse(form, error)
    people = queries.actors(db.session, {e.actor_id for e in events.items if e.actor_id} if events else set())
    args = {k: v for k, v in filters.items() if v}
    return page_or_fragment("admin/audit/index.html", "admin/audit/_events.html", status,
                            form=form, events=events, people=people, args=args, shown_detail=shown_detail)
