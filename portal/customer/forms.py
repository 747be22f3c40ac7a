"""Customer forms. Forms that move money carry an idempotency key made when they are drawn."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import AnyOf, InputRequired, Length, Optional

from portal.web.forms import KeyedForm


class MoneyForm(KeyedForm):
    """A customer form whose submission moves money."""


class ConvertForm(MoneyForm):
    amount = StringField(
        "Card value", validators=[InputRequired("Enter the value of the card you want, like 10.00")]
    )
    currency = SelectField("Currency", choices=[], validate_choice=False)
    merchant = SelectField("Where to use it", choices=[], validate_choice=False)


class TopUpForm(MoneyForm):
    amount = StringField("Amount to add", validators=[InputRequired("Enter an amount, like 10.00")])
    source = RadioField(
        "Pay with",
        choices=[SelectChoice("loops", "Loops"), SelectChoice("wallet", "Wallet credit")],
        default="loops",
        # Only these two: cash top-ups happen at a merchant's counter, never from the wallet.
        validate_choice=False,
        validators=[InputRequired("Choose Loops or wallet credit"), AnyOf(("loops", "wallet"), "Choose Loops or wallet credit")],
    )


class TransferForm(FlaskForm):
    to_email = EmailField(
        "Your friend's e-mail address (optional)",
        validators=[Optional(), Length(max=254, message="That address is too long")],
    )


class CancelTransferForm(FlaskForm):
    """Only the CSRF token: the transfer is named by the URL."""


class RedeemForm(FlaskForm):
    code = StringField(
        "Code", validators=[InputRequired("Enter the code"), Length(max=80, message="That code is too long")]
    )


class PasswordCheckForm(FlaskForm):
    password = PasswordField("Your password", validators=[InputRequired("Enter your password")])
    then = HiddenField(default="show")
