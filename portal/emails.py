"""The one rule for an e-mail address, for accounts, transfers, gifts and campaigns. No Flask here."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from portal.errors import ValidationError


def normalise_email(email: str, *, field: str = "email") -> str:
    """Trim and lower-case an address; refuse what is not one by email-validator's syntax rules
    (no DNS look-up: a till or a sign-up must not wait on a resolver). ``.test`` addresses are
    allowed, as the demo's are."""
    try:
        checked = validate_email((email or "").strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        raise ValidationError("Enter an e-mail address like name@example.com", field=field) from None
    return checked.normalized.lower()
