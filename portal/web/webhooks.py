"""The webhook pages, one blueprint for two places: nested in the till (a merchant's own events)
and in the admin console (every event). Which place a request is in picks the endpoints it may
see and the layout it is drawn in; the parent blueprint's sign-in and role checks apply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectMultipleField, StringField

from portal.errors import DomainError, NotFound
from portal.events import endpoints
from portal.events.catalogue import EVENT_TYPES
from portal.extensions import db
from portal.ledger import Actor
from portal.services import services
from portal.web.render import done
from portal.web.responses import on_submit


class EndpointForm(FlaskForm):
    """An endpoint as typed; the rules are the domain's (``endpoints.create_endpoint``)."""

    class Meta:
        csrf = False  # CSRFProtect checks every POST before the view runs

    url = StringField("Endpoint URL")
    event_types = SelectMultipleField(
        "Events to send", choices=[SelectChoice(t, f"{t}: {meaning}") for t, meaning in EVENT_TYPES.items()],
        validate_choice=False,
    )


bp = Blueprint("webhooks", __name__)


@dataclass(frozen=True)
class Place:
    scope: Callable[[], int | None]  # the merchant whose endpoints are shown; None: every event
    layout: str


PLACES = {
    "admin": Place(lambda: None, "layouts/admin.html"),
    "merchant": Place(lambda: current_user.merchant_id, "layouts/merchant.html"),
}


def place() -> Place:
    return PLACES[request.blueprints[-1]]


def actor() -> Actor:
    return Actor(user_id=current_user.id, merchant_id=current_user.merchant_id)


def page(template: str, status: int = 200, **context):
    return render_template(template, layout=place().layout, place=request.blueprints[-1], **context), status


def endpoint_in_scope(endpoint_id: int):
    try:
        return endpoints.find_endpoint(db.session, endpoint_id, place().scope())
    except NotFound as error:
        abort(404, error.message)


def back_to(endpoint_id: int, error: DomainError | None = None, message: str | None = None):
    if error is not None:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for(".endpoint", endpoint_id=endpoint_id), 303)
    db.session.commit()
    return done(url_for(".endpoint", endpoint_id=endpoint_id), message)


@bp.route("/webhooks", methods=["GET", "POST"])
def index():
    """List the endpoints; add one, showing its signing secret this once."""
    form = EndpointForm()
    return on_submit(
        form,
        lambda: endpoints.create_endpoint(
            db.session, services().vault, url=form.url.data, event_types=form.event_types.data,
            merchant_id=place().scope(), actor=actor(), allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE_URLS"],
        ),
        lambda made: page("webhooks/created.html", 201, endpoint=made.endpoint, secret=made.secret),
        lambda status: page(
            "webhooks/index.html", status, endpoints=endpoints.endpoints_of(db.session, place().scope()), form=form,
            event_types=EVENT_TYPES,
        ),
    )


@bp.get("/webhooks/<int:endpoint_id>")
def endpoint(endpoint_id: int):
    """Show an endpoint, its state and its delivery log."""
    found = endpoint_in_scope(endpoint_id)
    return page(
        "webhooks/detail.html", endpoint=found, deliveries=endpoints.deliveries_of(db.session, found),
        event_types=EVENT_TYPES,
    )


@bp.post("/webhooks/<int:endpoint_id>/test")
def send_test(endpoint_id: int):
    """Send the endpoint a test event."""
    endpoints.send_test(db.session, endpoint_in_scope(endpoint_id))
    return back_to(endpoint_id, message="A test event is on its way; its delivery shows in the log below.")


@bp.post("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")
def resend(endpoint_id: int, delivery_id: int):
    """Send an earlier delivery's event again."""
    found = endpoint_in_scope(endpoint_id)
    try:
        endpoints.send_again(db.session, found, delivery_id)
    except DomainError as error:
        return back_to(endpoint_id, error)
    return back_to(endpoint_id, message="The event is on its way again; the new delivery shows in the log below.")


@bp.post("/webhooks/<int:endpoint_id>/enable")
def enable(endpoint_id: int):
    """Start sending events to a disabled endpoint again."""
    endpoints.enable(db.session, endpoint_in_scope(endpoint_id), actor=actor())
    return back_to(endpoint_id, message="The endpoint is enabled: new events will be sent to it.")


@bp.post("/webhooks/<int:endpoint_id>/delete")
def delete(endpoint_id: int):
    """Delete an endpoint and its log."""
    endpoints.delete(db.session, endpoint_in_scope(endpoint_id), actor=actor())
    db.session.commit()
    return done(url_for(".index"), "The endpoint was deleted; no more events will be sent to it.")
