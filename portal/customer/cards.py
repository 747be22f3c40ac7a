"""A card's own page: live balance, rotating QR code, the code on request, history, print."""

from __future__ import annotations

import time

from flask import abort, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from portal.customer import bp
from portal.customer.forms import PasswordCheckForm, TransferForm
from portal.customer.qr import qr_svg
from portal.customer.queries import balance_etag, card_history, card_state, claimed_from, own_card
from portal.customer.reauth import confirm_password, signed_in_recently
from portal.errors import DomainError
from portal.extensions import db
from portal.models import GiftCard
from portal.services import services
from portal.web.render import done, is_htmx, page_or_fragment, varies_with_htmx
from portal.web.responses import no_store, refuse, retry_after
from portal.web.sessions import background_poll

POLL_SECONDS = 5  # how often an open card page asks whether its balance changed
QR_WINDOW = 60  # QR tokens rotate every minute (portal.cards.codes)


def own_or_404(card_id: int) -> GiftCard:
    """The signed-in customer's card; anyone else's is as missing as a card that never was."""
    card = own_card(db.session, current_user, card_id)
    if card is None:
        abort(404)
    return card


def qr_context(state) -> dict:
    """The QR code for the till while the card can pay, else why not; and when to fetch the next.

    The next fetch is just after the minute turns, so the token shown is always the newest and
    still good for a full minute when the till scans it.
    """
    refresh = QR_WINDOW - int(time.time()) % QR_WINDOW + 1
    if not state.usable:
        return {"svg": None, "refresh": refresh}
    token = services().qr.issue(state.card.code_id)
    return {"svg": qr_svg(token, label="QR code to pay with this card at the till"), "refresh": refresh}


def card_page(card: GiftCard, **overrides) -> dict:
    """Everything the card page shows."""
    state = card_state(db.session, card)
    context = {
        "card": card,
        "state": state,
        "qr": qr_context(state),
        "history": card_history(db.session, card),
        "code_mode": "masked",
        "reveal_form": PasswordCheckForm(),
        "transfer_form": TransferForm(),
        "poll_seconds": POLL_SECONDS,
    }
    context.update(overrides)
    return context


@bp.get("/cards/<int:card_id>")
def card(card_id: int):
    """Show one of the customer's cards: live balance, QR code, masked code, actions and history."""
    return render_template("customer/cards/detail.html", **card_page(own_or_404(card_id)))


@bp.get("/cards/<int:card_id>/balance")
def card_balance(card_id: int):
    """The live balance fragment the card page polls: 304 while nothing changed.

    Most polls change nothing, so the ETag comes from one statement (which also checks the owner)
    and the card itself is loaded only when the balance is drawn again.
    """
    background_poll()
    etag = balance_etag(db.session, current_user, card_id)
    if etag is None:
        if claimed_from(db.session, current_user, card_id):
            # 286 tells htmx to swap this in and stop polling: the card went to the friend.
            return render_template("customer/cards/_balance_gone.html"), 286
        abort(404)
    if not is_htmx():
        return redirect(url_for(".card", card_id=card_id))
    if request.if_none_match.contains(etag):
        response = make_response("", 304)
    else:
        card = db.session.get(GiftCard, card_id)
        state = card_state(db.session, card)
        etag = state.etag
        response = make_response(
            render_template("customer/cards/_balance.html", card=card, state=state, poll_seconds=POLL_SECONDS)
        )
        if request.if_none_match:
            # The QR code and actions depend on the same state: let them refresh now too.
            response.headers["HX-Trigger"] = "card-changed"
    response.set_etag(etag)
    return varies_with_htmx(response)


@bp.get("/cards/<int:card_id>/qr")
def card_qr(card_id: int):
    """The QR code fragment with this minute's token (the page fetches it every minute)."""
    card = own_or_404(card_id)
    if not is_htmx():
        return redirect(url_for(".card", card_id=card_id))
    state = card_state(db.session, card)
    response = make_response(render_template("customer/cards/_qr.html", card=card, state=state, qr=qr_context(state)))
    return no_store(varies_with_htmx(response))


def _code(card: GiftCard, mode: str, form: PasswordCheckForm, status: int = 200, headers: dict | None = None):
    code = services().vault.decrypt(card.code.ciphertext) if mode == "shown" else None
    response = page_or_fragment(
        "customer/cards/reveal.html", "customer/cards/_code.html", status,
        card=card, code_mode=mode, code=code, reveal_form=form,
    )
    response.headers.update(headers or {})
    return no_store(response)


@bp.get("/cards/<int:card_id>/code")
def card_code(card_id: int):
    """The masked code again (the "Hide code" button)."""
    card = own_or_404(card_id)
    if not is_htmx():
        return redirect(url_for(".card", card_id=card_id))
    return _code(card, "masked", PasswordCheckForm())


@bp.post("/cards/<int:card_id>/reveal")
def card_reveal(card_id: int):
    """Show the full code; asks for the password again when the sign-in is over ten minutes old."""
    card = own_or_404(card_id)
    form = PasswordCheckForm()
    if not signed_in_recently():
        if "password" not in request.form:
            return _code(card, "ask", form)
        if not form.validate():
            return _code(card, "ask", form, 422)
        try:
            confirm_password(form.password.data)
        except DomainError as error:
            return _code(card, "ask", form, refuse(form, error), retry_after(error))
    if form.then.data == "print":
        return done(url_for(".card_print", card_id=card.id))
    return _code(card, "shown", form)


@bp.get("/cards/<int:card_id>/print")
def card_print(card_id: int):
    """A printable card with the plain code and its QR code (asks for the password if needed)."""
    card = own_or_404(card_id)
    if not signed_in_recently():
        return _code(card, "ask", PasswordCheckForm(then="print"))
    code = services().vault.decrypt(card.code.ciphertext)
    response = make_response(
        render_template(
            "customer/cards/print.html", card=card, state=card_state(db.session, card), code=code,
            qr=qr_svg(code, label=f"QR code of the gift card code {code}", css_class="qr qr-print"),
        )
    )
    return no_store(response)


@bp.get("/cards/<int:card_id>/history")
def card_history_fragment(card_id: int):
    """The card's history fragment (the page fetches it again when the balance changes)."""
    card = own_or_404(card_id)
    if not is_htmx():
        return redirect(url_for(".card", card_id=card_id))
    response = make_response(
        render_template("customer/cards/_history.html", card=card, history=card_history(db.session, card))
    )
    return varies_with_htmx(response)
