"""Topping a card up from Loops or wallet credit: review the new balance and expiry, then confirm."""

from __future__ import annotations

from flask import request, url_for
from flask_login import current_user
from wtforms import SelectChoice

from portal.cards.lookup import usable_at
from portal.cards.operations import load
from portal.customer import bp
from portal.customer.cards import own_or_404
from portal.customer.forms import TopUpForm
from portal.customer.queries import loops_balance, topup_preview, wallet_balance
from portal.errors import DomainError
from portal.extensions import db
from portal.ledger import Actor
from portal.money import Money
from portal.web.render import done, page_or_fragment
from portal.web.responses import refuse


@bp.route("/cards/<int:card_id>/topup", methods=["GET", "POST"])
def card_topup(card_id: int):
    """Add value to a card: "Review" shows the new balance and expiry, "Confirm" moves the money."""
    card = own_or_404(card_id)
    form = TopUpForm()
    loops, wallet = loops_balance(db.session, current_user), wallet_balance(db.session, current_user, card.currency)
    form.source.choices = [
        SelectChoice("loops", f"Loops (you have {Money(loops, 'LOOP').display()})"),
        SelectChoice("wallet", f"Wallet credit (you have {Money(wallet, card.currency).display()})"),
    ]
    preview, status = None, 200
    step = request.form.get("step", "review")
    if form.validate_on_submit() and step != "change":
        try:
            amount = Money.parse(form.amount.data, card.currency)
            if step == "confirm":
                load(
                    db.session, card, amount, actor=Actor(user_id=current_user.id),
                    idempotency_key=form.domain_key(), source=form.source.data, customer=current_user,
                )
                db.session.commit()
                return done(url_for(".card", card_id=card.id), f"Added {amount.display()} to your card.")
            usable_at(card, None)
            preview = topup_preview(db.session, current_user, card, amount, form.source.data)
        except DomainError as error:
            status = refuse(form, error)
    elif form.errors:
        status = 422
    return page_or_fragment(
        "customer/cards/topup.html", "customer/cards/_topup.html", status,
        card=card, topup_form=form, preview=preview,
    )
