"""Giving a card to a friend: by e-mail or by a claim code, held until claimed, or taken back."""

from __future__ import annotations

from flask import abort, render_template, url_for
from flask_login import current_user

from portal.cards.transfers import cancel_transfer, start_transfer
from portal.customer import bp
from portal.customer.cards import own_or_404, qr_context
from portal.customer.forms import CancelTransferForm, TransferForm
from portal.customer.queries import card_state
from portal.errors import DomainError, TransferNotFound
from portal.extensions import db
from portal.ledger import Actor
from portal.models import Transfer
from portal.services import services
from portal.web.render import done, is_htmx, page_or_fragment
from portal.web.responses import no_store, on_submit, refuse


def _transfer_view(card, status: int = 200, **context):
    context.setdefault("transfer_form", TransferForm())
    context.setdefault("cancel_form", CancelTransferForm())
    context.setdefault("state", card_state(db.session, card))
    return page_or_fragment("customer/cards/transfer.html", "customer/cards/_transfer.html", status, card=card, **context)


@bp.post("/cards/<int:card_id>/transfer")
def card_transfer(card_id: int):
    """Hold the card for a friend and show the claim code, this once."""
    card = own_or_404(card_id)
    form = TransferForm()
    return on_submit(
        form,
        lambda: start_transfer(
            db.session, services().vault, card, actor=Actor(user_id=current_user.id), to_email=form.to_email.data,
        ),
        lambda started: _given(card, *started),
        lambda status: _transfer_view(card, status, transfer_form=form),
    )


def _given(card, transfer: Transfer, claim_code: str):
    """The transfer just started, with its claim code and link shown this once."""
    claim_url = url_for("public.claim", claim_code=claim_code, _external=True)
    response = no_store(_transfer_view(card, claim_code=claim_code, claim_url=claim_url, started=transfer))
    if is_htmx():
        # The card page's QR code would still pay until its next refresh: replace it with the reason it can't.
        state = card_state(db.session, card)
        response.set_data(response.get_data(as_text=True) + render_template(
            "customer/cards/_qr.html", card=card, state=state, qr=qr_context(state), out_of_band=True
        ))
    return response


@bp.post("/transfers/<int:transfer_id>/cancel")
def transfer_cancel(transfer_id: int):
    """Take back a card that is waiting for a friend; its claim code stops working."""
    form = CancelTransferForm()
    transfer = db.session.get(Transfer, transfer_id)
    if transfer is None or transfer.from_user_id != current_user.id:
        abort(404)
    try:
        cancel_transfer(db.session, transfer_id, user=current_user)
    except TransferNotFound:
        abort(404)
    except DomainError as error:
        status = refuse(form, error)
        return _transfer_view(transfer.card, status, cancel_form=form)
    db.session.commit()
    return done(url_for(".card", card_id=transfer.card_id), "The card is back with you; its claim code no longer works.")
