"""Sign-up, sign-in and password forms."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from portal.auth.users import check_password_rule
from portal.emails import normalise_email
from portal.tokens import check_expiry_days, check_token_name
from portal.web.forms import rule


class SignUpForm(FlaskForm):
    name = StringField("Your name", validators=[Length(max=120, message="Use at most 120 characters for your name")])
    email = EmailField(
        "E-mail address",
        validators=[InputRequired("Enter your e-mail address"), rule(normalise_email)],
    )
    password = PasswordField(
        "Password", validators=[InputRequired("Choose a password"), rule(check_password_rule)]
    )
    confirm = PasswordField(
        "Password again",
        validators=[InputRequired("Type the password again"), EqualTo("password", "The passwords don't match")],
    )


class ConfirmSignUpForm(FlaskForm):
    """The button that creates the account a sign-up link carries (a form: a GET changes nothing)."""


class SignInForm(FlaskForm):
    email = EmailField("E-mail address", validators=[InputRequired("Enter your e-mail address")])
    password = PasswordField("Password", validators=[InputRequired("Enter your password")])


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[InputRequired("Enter your current password")]
    )
    new_password = PasswordField(
        "New password", validators=[InputRequired("Choose a new password"), rule(check_password_rule)]
    )
    confirm = PasswordField(
        "New password again",
        validators=[InputRequired("Type the new password again"), EqualTo("new_password", "The passwords don't match")],
    )


class TokenForm(FlaskForm):
    name = StringField(
        "Token name", validators=[InputRequired("Give the token a name"), rule(check_token_name)]
    )
    expires_in_days = StringField(
        "Expires after (days)", validators=[rule(check_expiry_days)], render_kw={"inputmode": "numeric"}
    )
