"""Forms anyone may fill in."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length


class BalanceForm(FlaskForm):
    code = StringField(
        "Gift card code",
        validators=[InputRequired("Enter the code printed on the card"), Length(max=80, message="That code is too long")],
    )
