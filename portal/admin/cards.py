"""Card look-up and the admin's card actions: freeze, unfreeze, cancel, adjust, reinstate — each with a
reason — and the network a card works in."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from flask import request, url_for
from wtforms import SelectChoice

from portal import networks

from portal.admin import bp, queries
from portal.admin.forms import AdjustForm, CancelCardForm, CardNetworkForm, CardSearchForm, ReasonForm, ReinstateForm
from portal.admin.responses import actor, require_tick
from portal.cards import operations
from portal.cards.expiry import reinstate
from portal.cards.holds import held_on
from portal.errors import DomainError, ValidationError
from portal.extensions import db
from portal.ledger import history, required_reason
from portal.models import GiftCard, utcnow
from portal.models.campaigns import Campaign
from portal.money import Money
from portal.services import services
from portal.web.render import done, page_or_fragment
from portal.web.responses import refuse


# A code (or QR token) is as good as the money on the card: it is looked up by POST, so it stays out
# of addresses, browser history and access logs, and it is never echoed back; e-mail and campaign
# searches may also be links (their pages are linked by GET).
SECRET_SEARCH = "code"
CODE_BY_POST = "Type the code into the form and press Find; a code in the address would be kept in history and logs"


@bp.route("/cards", methods=["GET", "POST"])
def cards():
    """Find cards by code, owner's e-mail or campaign."""
    form = CardSearchForm(request.form if request.method == "POST" else request.args)
    results, status = None, 200
    try:
        if form.q.data and form.by.data == SECRET_SEARCH and request.method == "GET":
            raise ValidationError(CODE_BY_POST, field="q")
        if form.q.data:
            results = queries.find_cards(
                db.session, services().vault, services().qr, form.by.data, form.q.data,
                queries.page_number(request.values.get("page")),
            )
    except DomainError as error:
        status = refuse(form, error, {"code": "q"})
        if error.code == "not_found":
            status = 404
    if form.by.data == SECRET_SEARCH:
        form.q.data = None
    campaigns = db.session.scalars(
        db.select(Campaign).where(Campaign.kind == "gift_card", Campaign.deleted_at.is_(None)).order_by(Campaign.name)
    ).all()
    return page_or_fragment(
        "admin/cards/index.html", "admin/cards/_search.html", status, form=form, results=results, campaigns=campaigns,
    )


def _forms(card: GiftCard, **given) -> dict:
    forms = {
        "freeze_form": ReasonForm(prefix="freeze"), "unfreeze_form": ReasonForm(prefix="unfreeze"),
        "cancel_form": CancelCardForm(prefix="cancel"), "adjust_form": AdjustForm(prefix="adjust"),
        "reinstate_form": ReinstateForm(prefix="reinstate"), "network_form": CardNetworkForm(prefix="network"),
    }
    if "reinstate_form" not in given:
        forms["reinstate_form"].expires_on.data = (utcnow() + timedelta(days=90)).date()
    if "network_form" not in given:
        forms["network_form"].network.data = str(card.network_id or "")
    network_form = given.get("network_form", forms["network_form"])
    network_form.network.choices = [SelectChoice("", "No network: every merchant")] + [
        SelectChoice(str(n.id), n.name) for n in networks.networks(db.session)
    ]
    forms.update(given)
    return forms


def _panel(card: GiftCard, status: int = 200, **given):
    """The card page; for htmx only its panel (details, actions, history)."""
    return page_or_fragment(
        "admin/cards/detail.html", "admin/cards/_panel.html", status, card=card, on_hold=held_on(db.session, card),
        campaign=queries.card_campaign(db.session, card.id), history=history(db.session, card.account_id, limit=100),
        now=utcnow(), **_forms(card, **given),
    )


@bp.get("/cards/<int:card_id>")
def card(card_id: int):
    """Show a card: balance, status, owner, campaign, history, and what an admin can do to it."""
    return _panel(queries.card(db.session, card_id))


def _act(card_id: int, name: str, form, change, message: str, field_names: dict[str, str] | None = None):
    """Run one card action from its form: the domain refuses a blank reason; the page shows why."""
    found = queries.card(db.session, card_id)
    if not form.validate_on_submit():
        return _panel(found, 422, **{f"{name}_form": form})
    try:
        change(found, form)
    except DomainError as error:
        return _panel(found, refuse(form, error, field_names), **{f"{name}_form": form})
    db.session.commit()
    return done(url_for(".card", card_id=found.id), message)


@bp.post("/cards/<int:card_id>/freeze")
def card_freeze(card_id: int):
    """Freeze a card so it cannot be used until unfrozen."""
    return _act(card_id, "freeze", ReasonForm(prefix="freeze"),
                lambda card, form: operations.freeze(db.session, card, actor=actor(), reason=form.reason.data),
                "The card is frozen.")


@bp.post("/cards/<int:card_id>/unfreeze")
def card_unfreeze(card_id: int):
    """Let a frozen card be used again."""
    return _act(card_id, "unfreeze", ReasonForm(prefix="unfreeze"),
                lambda card, form: operations.unfreeze(db.session, card, actor=actor(), reason=form.reason.data),
                "The card can be used again.")


@bp.post("/cards/<int:card_id>/cancel")
def card_cancel(card_id: int):
    """Cancel a card for good; its balance moves to breakage."""
    def cancel(card: GiftCard, form: CancelCardForm) -> None:
        required_reason(form.reason.data)  # the reason's message first, as for every other action
        require_tick(form, "the card can never be used again")
        operations.cancel(db.session, card, actor=actor(), idempotency_key=form.domain_key(), reason=form.reason.data)

    return _act(card_id, "cancel", CancelCardForm(prefix="cancel"), cancel, "The card is cancelled.")


def _adjust(card: GiftCard, form: AdjustForm) -> None:
    if not (form.amount.data or "").strip():
        raise ValidationError("Enter the amount, like 5.00", field="amount")
    amount = Money.parse(form.amount.data, card.currency)
    delta = amount.minor if form.direction.data != "remove" else -amount.minor
    operations.adjust(
        db.session, card, delta, actor=actor(), idempotency_key=form.domain_key(), reason=form.reason.data
    )


@bp.post("/cards/<int:card_id>/adjust")
def card_adjust(card_id: int):
    """Correct a card's balance up or down."""
    return _act(card_id, "adjust", AdjustForm(prefix="adjust"), _adjust, "The balance was corrected.")


def _reinstate(card: GiftCard, form: ReinstateForm) -> None:
    if form.expires_on.data is None:
        raise ValidationError("Choose a new expiry date in the future", field="expires_on")
    # Valid through the chosen day.
    ends = datetime.combine(form.expires_on.data + timedelta(days=1), time(), timezone.utc)
    reinstate(db.session, card, actor=actor(), reason=form.reason.data, expires_at=ends)


@bp.post("/cards/<int:card_id>/reinstate")
def card_reinstate(card_id: int):
    """Bring an expired card back with its balance and a new expiry date."""
    return _act(card_id, "reinstate", ReinstateForm(prefix="reinstate"), _reinstate, "The card is active again.",
                {"expires_at": "expires_on"})


def _network(card: GiftCard, form: CardNetworkForm) -> None:
    chosen = networks.check_network(db.session, form.network.data)
    networks.set_card_network(db.session, card, chosen, actor=actor())


@bp.post("/cards/<int:card_id>/network")
def card_network(card_id: int):
    """Scope a card to a network (or to none): only the network's merchants take it."""
    return _act(card_id, "network", CardNetworkForm(prefix="network"), _network, "Where the card works was changed.")
