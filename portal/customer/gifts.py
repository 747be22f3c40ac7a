"""Gift subscriptions on the customer pages: buy one (form → review → pay and send), the gifts
given and received, send, cancel, show an open gift's code, and redeem a gift sent to me."""

from __future__ import annotations

from flask import abort, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, InputRequired, Length, Optional

from portal.customer import bp
from portal.customer.forms import PasswordCheckForm
from portal.customer.queries import loops_balance, wallet_balance
from portal.customer.reauth import confirm_password, signed_in_recently
from portal.errors import DomainError
from portal.extensions import db
from portal.web.render import done, page_or_fragment
from portal.web.responses import no_store, on_submit, refuse, retry_after
from portal.gifts import (
    cancel_gift, create_gift, full_code, pay_gift, plans_on_sale, redeem_gift, send_gift,
)
from portal.gifts.queries import gifts_received, gifts_sent, visible_gift
from portal.gifts.redemption import plan_held_until, recipient_holds_plan_until
from portal.ledger import Actor
from portal.models import utcnow
from portal.models.gifts import GiftSubscription
from portal.money import Money
from portal.services import services
from portal.web.forms import KeyedForm
from portal.web.guessing import guarded

PAY_WITH = "Choose wallet credit or Loops"
# Where the domain's fields show on the form: the coupon's refusals name the code, order or address.
COUPON_FIELDS = {"subscription_identifier": "plan", "code": "coupon", "order_total": "coupon", "customer_email": "coupon"}


class GiftForm(KeyedForm):
    plan = SelectField("Subscription", choices=[], validate_choice=False)
    recipient_email = EmailField(
        "Your friend's e-mail address (optional)",
        validators=[Optional(), Length(max=254, message="That address is too long")],
    )
    message = TextAreaField(
        "A message for your friend (optional)",
        validators=[Optional(), Length(max=500, message="Keep it under 500 characters")],
    )
    payment_method = RadioField(
        "Pay with",
        choices=[SelectChoice("wallet", "Wallet credit"), SelectChoice("loops", "Loops")],
        default="wallet",
        validate_choice=False,
        validators=[InputRequired(PAY_WITH), AnyOf(("wallet", "loops"), PAY_WITH)],
    )
    coupon = StringField("Coupon (optional)", validators=[Optional(), Length(max=80, message="That code is too long")])


class PayForm(KeyedForm):
    """Only the key: paying twice by a double click charges once."""


class GiftActionForm(FlaskForm):
    """Only the CSRF token: the gift is named by the URL."""


def _gift_form() -> GiftForm:
    form = GiftForm()
    plans = plans_on_sale(db.session)
    form.plan.choices = [
        SelectChoice(p.identifier, f"{p.name}, {p.duration_days} days: {Money(p.price, p.currency).display()} "
                                   f"or {Money(p.price_loops, 'LOOP').display()}")
        for p in plans
    ]
    currency = plans[0].currency if plans else "USD"
    wallet = wallet_balance(db.session, current_user, currency)
    form.payment_method.choices = [
        SelectChoice("wallet", f"Wallet credit (you have {Money(wallet, currency).display()})"),
        SelectChoice("loops", f"Loops (you have {Money(loops_balance(db.session, current_user), 'LOOP').display()})"),
    ]
    return form


def _visible_or_404(gift_id: int) -> GiftSubscription:
    """A gift the customer bought or was sent; anyone else's is as missing as one that never was."""
    gift = visible_gift(db.session, current_user, gift_id)
    if gift is None:
        abort(404)
    return gift


def _gift_view(gift: GiftSubscription, status: int = 200, **context):
    context.setdefault("pay_form", PayForm())
    context.setdefault("action_form", GiftActionForm())
    context.setdefault("reveal_form", PasswordCheckForm())
    context.setdefault("code_mode", "masked")
    mine = gift.buyer_id == current_user.id
    if mine and not gift.paid:
        context.setdefault("friend_has_plan_until", recipient_holds_plan_until(db.session, gift, utcnow()))
    elif not mine and gift.status == "sent":
        context.setdefault("mine_until", plan_held_until(db.session, gift, current_user.id, utcnow()))
    return page_or_fragment(
        "customer/gifts/detail.html", "customer/gifts/_gift.html", status, gift=gift, mine=mine, **context,
    )


@bp.get("/gifts")
def gifts():
    """Show the gifts the customer gave and the gifts sent to them."""
    return render_template(
        "customer/gifts/index.html",
        sent=gifts_sent(db.session, current_user), received=gifts_received(db.session, current_user),
        action_form=GiftActionForm(),
    )


@bp.route("/gifts/new", methods=["GET", "POST"])
def gift_new():
    """Choose a plan, a friend (or an open gift), a message, how to pay and a coupon; then review."""
    form = _gift_form()
    status, headers = 200, {}
    if form.validate_on_submit():
        try:
            with guarded():  # an unknown coupon counts as a guess, as at a till
                gift, _ = create_gift(
                    db.session, services().vault, current_user, subscription_identifier=form.plan.data,
                    payment_method=form.payment_method.data, recipient_email=form.recipient_email.data,
                    message=form.message.data, coupon=form.coupon.data, channel="web",
                    idempotency_key=form.domain_key(),
                )
        except DomainError as error:
            status, headers = refuse(form, error, COUPON_FIELDS), retry_after(error)
        else:
            db.session.commit()
            return done(url_for(".gift", gift_id=gift.id))
    elif form.errors:
        status = 422
    response = page_or_fragment(
        "customer/gifts/new.html", "customer/gifts/_form.html", status, form=form, plans=plans_on_sale(db.session),
    )
    response.headers.update(headers)
    return response


@bp.get("/gifts/<int:gift_id>")
def gift(gift_id: int):
    """One gift: the review before paying, or where it stands now, with what can be done next."""
    return _gift_view(_visible_or_404(gift_id))


@bp.post("/gifts/<int:gift_id>/pay")
def gift_pay(gift_id: int):
    """Pay for the gift and send it: to the friend by e-mail, or as an open gift's code to hand on."""
    gift = _visible_or_404(gift_id)
    form = PayForm()

    def pay():
        pay_gift(db.session, services().vault, gift, actor=Actor(user_id=current_user.id),
                 idempotency_key=form.domain_key(), channel="web")
        if gift.status == "created":  # a replayed payment of a gift already sent answers as the first did
            send_gift(db.session, services().vault, gift, user=current_user)

    def paid(_):
        if gift.recipient_email:
            where = "Your friend will get an e-mail with the code."
        else:
            where = "Hand the code below to your friend."
        return done(url_for(".gift", gift_id=gift.id), f"Paid and sent. {where}")

    return on_submit(form, pay, paid, lambda status: _gift_view(gift, status, pay_form=form))


def _act(gift_id: int, action, answer):
    """One button's change to a gift (``action(gift)``); ``answer(result)`` once it is committed."""
    gift = _visible_or_404(gift_id)
    form = GiftActionForm()
    return on_submit(form, lambda: action(gift), answer, lambda status: _gift_view(gift, status, action_form=form))


@bp.post("/gifts/<int:gift_id>/send")
def gift_send(gift_id: int):
    """Send a gift that is paid but not yet sent."""
    return _act(
        gift_id, lambda g: send_gift(db.session, services().vault, g, user=current_user),
        lambda _: done(url_for(".gift", gift_id=gift_id), "The gift is on its way."),
    )


@bp.post("/gifts/<int:gift_id>/cancel")
def gift_cancel(gift_id: int):
    """Cancel a gift not yet redeemed; what was paid goes back to the wallet or Loops."""
    return _act(
        gift_id, lambda g: cancel_gift(db.session, g, user=current_user),
        lambda _: done(
            url_for(".gift", gift_id=gift_id), "The gift is cancelled; anything you paid is back where it came from."
        ),
    )


@bp.post("/gifts/<int:gift_id>/redeem")
def gift_redeem(gift_id: int):
    """Redeem a gift sent to me: the subscription starts now."""
    return _act(
        gift_id, lambda g: redeem_gift(db.session, g, current_user),
        lambda redeemed: done(url_for(".dashboard"), redeemed.message + "."),
    )


@bp.post("/gifts/<int:gift_id>/reveal")
def gift_reveal(gift_id: int):
    """Show an open gift's code to its buyer; asks for the password again after ten minutes."""
    gift = _visible_or_404(gift_id)
    if gift.buyer_id != current_user.id:
        abort(404)
    form = PasswordCheckForm()
    if not signed_in_recently():
        if "password" not in request.form:
            return no_store(_gift_view(gift, code_mode="ask", reveal_form=form))
        if not form.validate():
            return no_store(_gift_view(gift, 422, code_mode="ask", reveal_form=form))
        try:
            confirm_password(form.password.data)
        except DomainError as error:
            response = _gift_view(gift, refuse(form, error), code_mode="ask", reveal_form=form)
            response.headers.update(retry_after(error))
            return no_store(response)
    return no_store(_gift_view(gift, code_mode="shown", code=full_code(services().vault, gift)))
