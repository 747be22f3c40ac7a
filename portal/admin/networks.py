"""Acceptance networks: create and rename them, add and remove their merchants."""

from __future__ import annotations

from flask import render_template, request, url_for
from wtforms import SelectChoice

from portal import networks as rules
from portal.admin import bp
from portal.admin.forms import NetworkForm, NetworkMemberForm
from portal.admin.responses import actor
from portal.errors import DomainError
from portal.extensions import db
from portal.models import Merchant, Network
from portal.web.render import done
from portal.web.responses import refuse


@bp.route("/networks", methods=["GET", "POST"])
def networks():
    """List the networks with their merchants; create a network."""
    form = NetworkForm()
    status = 200
    if request.method == "POST":
        try:
            found = rules.create_network(db.session, form.name.data, actor=actor())
        except DomainError as error:
            status = refuse(form, error)
        else:
            db.session.commit()
            return done(url_for(".network", network_id=found.id), f"The network {found.name} was created.")
    return render_template("admin/networks/index.html", networks=rules.networks(db.session), form=form), status


def _network_page(found: Network, status: int = 200, *, name_form=None, member_form=None):
    """The network's page: its name, its merchants, and the forms that change them."""
    name_form = name_form or NetworkForm(formdata=None, data={"name": found.name})
    member_form = member_form or NetworkMemberForm(formdata=None)
    others = db.session.scalars(
        db.select(Merchant).where(Merchant.id.not_in([m.id for m in found.merchants])).order_by(Merchant.name)
    )
    member_form.merchant.choices = [SelectChoice("", "Choose a merchant")] + [
        SelectChoice(m.slug, m.name) for m in others
    ]
    return render_template(
        "admin/networks/detail.html", network=found, name_form=name_form, member_form=member_form
    ), status


@bp.get("/networks/<int:network_id>")
def network(network_id: int):
    """Show a network and its merchants."""
    return _network_page(rules.network(db.session, network_id))


def _change(network_id: int, form, form_name: str, change, message):
    """Run one form's change on the network; a refusal redraws the page with it, nothing changed."""
    found = rules.network(db.session, network_id)
    try:
        result = change(found)
    except DomainError as error:
        status = refuse(form, error)
        return _network_page(rules.network(db.session, network_id), status, **{form_name: form})
    db.session.commit()
    return done(url_for(".network", network_id=found.id), message(found, result))


@bp.post("/networks/<int:network_id>/name")
def network_rename(network_id: int):
    """Rename the network; a bad or taken name says so and changes nothing."""
    form = NetworkForm()
    return _change(
        network_id, form, "name_form",
        lambda found: rules.rename_network(db.session, found, form.name.data, actor=actor()),
        lambda found, _: f"The network is now called {found.name}.",
    )


@bp.post("/networks/<int:network_id>/merchants")
def network_add(network_id: int):
    """Add a merchant to the network: the network's cards work there from now on."""
    form = NetworkMemberForm()
    return _change(
        network_id, form, "member_form",
        lambda found: rules.add_merchant(db.session, found, form.merchant.data, actor=actor()),
        lambda found, merchant: f"{merchant.name} now takes {found.name} cards.",
    )


@bp.post("/networks/<int:network_id>/merchants/<slug>/remove")
def network_remove(network_id: int, slug: str):
    """Take a merchant out of the network: the network's cards stop working there."""
    found = rules.network(db.session, network_id)
    merchant = rules.remove_merchant(db.session, found, slug, actor=actor())
    db.session.commit()
    return done(url_for(".network", network_id=found.id), f"{merchant.name} no longer takes {found.name} cards.")
