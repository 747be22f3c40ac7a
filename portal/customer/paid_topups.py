"""Topping up a card or wallet credit by paying with a card: an order through the shop's provider."""

from __future__ import annotations

from flask import redirect, render_template
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired

from portal.customer import bp
from portal.customer.cards import own_or_404
from portal.errors import DomainError
from portal.extensions import db
from portal.models import GiftCard
from portal.orders.programme import programme_for
from portal.orders.topups import place_topup
from portal.shop import count_purchase, payments, shop_currency
from portal.shop.routes import order_url
from portal.web.responses import refuse, retry_after


class PaidTopUpForm(FlaskForm):
    amount = StringField("Amount to add", validators=[InputRequired("Enter an amount, like 20.00")])


def _topup(card: GiftCard | None):
    """The form, and on a valid submission the order and a redirect to the provider's payment page."""
    programme = programme_for(db.session, shop_currency())
    form, status, headers = PaidTopUpForm(), 200, {}
    if form.validate_on_submit():
        try:
            attempt = count_purchase(f"user:{current_user.id}")
            try:
                _, checkout_url = place_topup(
                    db.session, payments(), programme, customer=current_user, card=card, amount=form.amount.data,
                    return_url=order_url,
                )
            except DomainError:
                attempt.succeeded()  # a refused form is no order: it does not count
                raise
        except DomainError as error:
            status, headers = refuse(form, error), retry_after(error)
        else:
            db.session.commit()
            return redirect(checkout_url, code=303)
    elif form.errors:
        status = 422
    page = render_template("customer/paid_topup.html", form=form, card=card, programme=programme)
    return page, status, headers


@bp.route("/cards/<int:card_id>/topup/pay", methods=["GET", "POST"])
def card_topup_by_card(card_id: int):
    """Top a card up by paying with a bank card: the amount, then the provider's payment page."""
    return _topup(own_or_404(card_id))


@bp.route("/topup", methods=["GET", "POST"])
def wallet_topup():
    """Add wallet credit by paying with a bank card: the amount, then the provider's payment page."""
    return _topup(None)
