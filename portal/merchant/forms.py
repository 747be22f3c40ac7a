"""The till's forms. The domain checks every value (amounts by the Money parser, in the
merchant's currency); CSRF is checked for every post by the app.

Every form that moves money carries its own idempotency key, made when the form is drawn,
so a double click, a reload or a retry after a dropped connection charges once.
"""

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField, TextAreaField

from portal.till.checkout import new_id


def blank(form_class, *, prefix: str = "", **data):
    """A form drawn afresh: nothing typed yet, and a new idempotency key if it moves money.

    A posted form without its key is refused (see ``checkout.web_key``) rather than given one.
    """
    if hasattr(form_class, "key"):
        data.setdefault("key", new_id())
    return form_class(formdata=None, prefix=prefix, data=data)


class SaleForm(FlaskForm):
    """The sale a form belongs to: its id, its purchase total and the customer named for it (signed)."""

    sale = HiddenField()
    total = HiddenField()
    customer = HiddenField()


class CustomerForm(SaleForm):
    who = StringField("Customer's e-mail or customer code")


class LookupForm(SaleForm):
    total = StringField("Purchase total")
    code = StringField("Gift card code")


class PaymentForm(SaleForm):
    """A form of the sale that moves money: it carries its idempotency key."""

    key = HiddenField()


class ApplyForm(PaymentForm):
    ticket = HiddenField()
    amount = StringField("Amount to take from this card")


class WalletForm(PaymentForm):
    amount = StringField("Wallet credit to use")


class SpendLoopsForm(PaymentForm):
    loops = StringField("Loops to use")


class CouponForm(SaleForm):
    code = StringField("Coupon code")


class LoopsForm(SaleForm):
    email = EmailField("Customer's e-mail")


class UndoForm(PaymentForm):
    reason = TextAreaField("Why undo it?")


class SellForm(FlaskForm):
    key = HiddenField()
    amount = StringField("Value of the new card")
    email = EmailField("Customer's e-mail (optional)")
    # Sent only by the "Confirm 1,000,000.00 USD" button of a large sale, with the amount it confirms.
    confirmed = StringField()


class LoadForm(FlaskForm):
    key = HiddenField()
    code = StringField("Code of the card to top up")
    amount = StringField("Amount to add")
    confirmed = StringField()  # as SellForm's: the amount a large top-up's "Confirm" button names
