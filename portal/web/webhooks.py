"""The webhook pages, one set of views for two places: a merchant's till (its own events) and
the admin console (every event). Each blueprint registers them with its scope and layout."""

from __future__ import annotations

from collections.abc import Callable

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
from portal.web.forms import show_domain_error
from portal.web.render import done


class EndpointForm(FlaskForm):
    """An endpoint as typed; the rules are the domain's (``endpoints.create_endpoint``)."""

    class Meta:
        csrf = False  # CSRFProtect checks every POST before the view runs

    url = StringField("Endpoint URL")
    event_types = SelectMultipleField(
        "Events to send", choices=[SelectChoice(t, f"{t}: {meaning}") for t, meaning in EVENT_TYPES.items()],
        validate_choice=False,
    )


def register(bp: Blueprint, *, scope: Callable[[], int | None], layout: str) -> None:
    """Add the webhook views to ``bp``; ``scope()`` names the merchant whose endpoints they show
    (None: the admins' endpoints, which hear every event)."""
    name = bp.name

    def actor() -> Actor:
        return Actor(user_id=current_user.id, merchant_id=current_user.merchant_id)

    def page(template: str, status: int = 200, **context):
        return render_template(template, layout=layout, webhooks=name, **context), status

    def endpoint_in_scope(endpoint_id: int):
        try:
            return endpoints.find_endpoint(db.session, endpoint_id, scope())
        except NotFound as error:
            abort(404, error.message)

    def back_to(endpoint_id: int, error: DomainError | None = None, message: str | None = None):
        if error is not None:
            db.session.rollback()
            flash(error.message, "error")
            return redirect(url_for(f"{name}.webhook", endpoint_id=endpoint_id), 303)
        db.session.commit()
        return done(url_for(f"{name}.webhook", endpoint_id=endpoint_id), message)

    def webhooks():
        """List the endpoints; add one, showing its signing secret this once."""
        form = EndpointForm()
        status = 200
        if form.validate_on_submit():
            try:
                made = endpoints.create_endpoint(
                    db.session, services().vault, url=form.url.data, event_types=form.event_types.data,
                    merchant_id=scope(), actor=actor(),
                    allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE_URLS"],
                )
            except DomainError as error:
                db.session.rollback()
                show_domain_error(form, error)
                status = 422
            else:
                db.session.commit()
                return page("webhooks/created.html", 201, endpoint=made.endpoint, secret=made.secret)
        elif request.method == "POST":
            status = 422
        return page(
            "webhooks/index.html", status, endpoints=endpoints.endpoints_of(db.session, scope()), form=form,
            event_types=EVENT_TYPES,
        )

    def webhook(endpoint_id: int):
        """Show an endpoint, its state and its delivery log."""
        endpoint = endpoint_in_scope(endpoint_id)
        return page(
            "webhooks/detail.html", endpoint=endpoint, deliveries=endpoints.deliveries_of(db.session, endpoint),
            event_types=EVENT_TYPES,
        )

    def webhook_test(endpoint_id: int):
        """Send the endpoint a test event."""
        endpoint = endpoint_in_scope(endpoint_id)
        endpoints.send_test(db.session, endpoint)
        return back_to(endpoint_id, message="A test event is on its way; its delivery shows in the log below.")

    def webhook_resend(endpoint_id: int, delivery_id: int):
        """Send an earlier delivery's event again."""
        endpoint = endpoint_in_scope(endpoint_id)
        try:
            endpoints.send_again(db.session, endpoint, delivery_id)
        except DomainError as error:
            return back_to(endpoint_id, error)
        return back_to(endpoint_id, message="The event is on its way again; the new delivery shows in the log below.")

    def webhook_enable(endpoint_id: int):
        """Start sending events to a disabled endpoint again."""
        endpoint = endpoint_in_scope(endpoint_id)
        endpoints.enable(db.session, endpoint, actor=actor())
        return back_to(endpoint_id, message="The endpoint is enabled: new events will be sent to it.")

    def webhook_delete(endpoint_id: int):
        """Delete an endpoint and its log."""
        endpoint = endpoint_in_scope(endpoint_id)
        endpoints.delete(db.session, endpoint, actor=actor())
        db.session.commit()
        return done(url_for(f"{name}.webhooks"), "The endpoint was deleted; no more events will be sent to it.")

    bp.add_url_rule("/webhooks", view_func=webhooks, methods=["GET", "POST"])
    bp.add_url_rule("/webhooks/<int:endpoint_id>", view_func=webhook)
    bp.add_url_rule("/webhooks/<int:endpoint_id>/test", view_func=webhook_test, methods=["POST"])
    bp.add_url_rule(
        "/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/resend", view_func=webhook_resend, methods=["POST"]
    )
    bp.add_url_rule("/webhooks/<int:endpoint_id>/enable", view_func=webhook_enable, methods=["POST"])
    bp.add_url_rule("/webhooks/<int:endpoint_id>/delete", view_func=webhook_delete, methods=["POST"])
