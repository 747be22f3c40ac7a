"""Bridges from the domain's validation rules to WTForms, so a form calls the same rule."""

from __future__ import annotations

from collections.abc import Callable

from wtforms import ValidationError as FieldError

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
