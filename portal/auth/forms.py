"""Sign-up, sign-in and password forms."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from portal.auth.users import check_password_rule
from portal.emails import normalise_email
from portal.tokens import check_expiry_days, check_token_name
from portal.web.forms import rule


def _new_password(label: str, missing: str) -> PasswordField:
    """A password being chosen: required, and held to the password rule."""
    return PasswordField(label, validators=[InputRequired(missing), rule(check_password_rule)])


def _again(label: str, missing: str, password: str) -> PasswordField:
    """The chosen password typed a second time: it must match the field named ``password``."""
    return PasswordField(label, validators=[InputRequired(missing), EqualTo(password, "The passwords don't match")])


class SignUpForm(FlaskForm):
    name = StringField("Your name", validators=[Length(max=120, message="Use at most 120 characters for your name")])
    email = EmailField(
        "E-mail address",
        validators=[InputRequired("Enter your e-mail address"), rule(normalise_email)],
    )
    password = _new_password("Password", "Choose a password")
    confirm = _again("Password again", "Type the password again", "password")


class ConfirmSignUpForm(FlaskForm):
    """The button that creates the account a sign-up link carries (a form: a GET changes nothing)."""


class SignInForm(FlaskForm):
    email = EmailField("E-mail address", validators=[InputRequired("Enter your e-mail address")])
    password = PasswordField("Password", validators=[InputRequired("Enter your password")])


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[InputRequired("Enter your current password")]
    )
    new_password = _new_password("New password", "Choose a new password")
    confirm = _again("New password again", "Type the new password again", "new_password")


class TokenForm(FlaskForm):
    name = StringField(
        "Token name", validators=[InputRequired("Give the token a name"), rule(check_token_name)]
    )
    expires_in_days = StringField(
        "Expires after (days)", validators=[rule(check_expiry_days)], render_kw={"inputmode": "numeric"}
    )
