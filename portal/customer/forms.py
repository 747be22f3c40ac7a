"""Customer forms. Forms that move money carry an idempotency key made when they are drawn."""

from __future__ import annotations

import uuid

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import AnyOf, InputRequired, Length, Optional, Regexp


def new_key() -> str:
    """A fresh idempotency key for a form that moves money."""
    return uuid.uuid4().hex


class MoneyForm(FlaskForm):
    """A form whose submission moves money: the same key twice charges once."""

    idempotency_key = HiddenField(
        default=new_key,
        validators=[
            InputRequired("This form is out of date; reload the page and try again"),
            Regexp(r"^[0-9a-f]{32}$", message="This form is out of date; reload the page and try again"),
        ],
    )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.idempotency_key.errors:
            # A hidden field has no place to show its error: show it above the form, with a new key.
            self.form_errors.extend(self.idempotency_key.errors)
            self.idempotency_key.data = new_key()
        return valid

    def domain_key(self) -> str:
        """The key the domain records, scoped to this channel."""
        return f"web:{self.idempotency_key.data}"


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
