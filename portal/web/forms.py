"""Bridges from the domain's validation rules to WTForms, so a form calls the same rule."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms import ValidationError as FieldError
from wtforms.validators import InputRequired, Regexp

from portal.errors import DomainError


def rule(check: Callable[[str], object]):
    """A WTForms validator that runs one domain rule and shows its message by the field."""

    def validate(form, field):
        try:
            check(field.data)
        except DomainError as error:
            raise FieldError(error.message) from None

    return validate


def show_domain_error(form, error: DomainError, field_names: dict[str, str] | None = None) -> None:
    """Put a domain error next to the field it concerns (or at the top of the form)."""
    name = (field_names or {}).get(error.field or "", error.field)
    field = getattr(form, name, None) if name else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


STALE_FORM = "This form is out of date; reload the page and try again"


def new_key() -> str:
    """A fresh idempotency key for a form that moves money, made when the form is drawn."""
    return uuid.uuid4().hex


class KeyedForm(FlaskForm):
    """A form whose submission moves money: the same key twice charges once."""

    idempotency_key = HiddenField(
        default=new_key, validators=[InputRequired(STALE_FORM), Regexp(r"^[0-9a-f]{32}$", message=STALE_FORM)]
    )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.idempotency_key.errors:
            # A hidden field has no place to show its error: show it above the form, with a new key.
            self.form_errors.extend(self.idempotency_key.errors)
            self.idempotency_key.data = new_key()
        return valid

    def domain_key(self) -> str:
        """The key the domain records, scoped to the web channel."""
        return f"web:{self.idempotency_key.data}"
