"""Merchants: creating them and their rules. No HTTP here."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.errors import ValidationError
from portal.models import Merchant
from portal.money import Money, exponent

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def check_slug(slug: str) -> str:
    """A slug is lower-case letters, digits and single dashes, up to 40 characters."""
    slug = (slug or "").strip()
    if not _SLUG.match(slug) or len(slug) > 40:
        raise ValidationError("Use lower-case letters, digits and dashes, like corner-cafe", field="slug")
    return slug


def check_timezone(value: object) -> str:
    """An IANA time zone name like Europe/Dublin; UTC when left blank."""
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"{name} is not a time zone like Europe/Dublin or America/New_York", field="timezone"
        ) from None
    return name


def create_merchant(
    session: Session, slug: str, name: str, currency: str = "USD", *, timezone: str | None = None, **rules
) -> Merchant:
    """Create a merchant. Raise ValidationError if the slug is taken or malformed, or the time zone unknown."""
    slug = check_slug(slug)
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationError("Give the merchant a name of 1 to 120 characters", field="name")
    currency = currency.strip().upper()
    exponent(currency)  # refuses an unknown currency
    if currency == "LOOP":
        raise ValidationError("A merchant trades in money, not Loops", field="currency")
    if session.scalar(sa.select(Merchant.id).where(Merchant.slug == slug)) is not None:
        raise ValidationError(f"A merchant with the slug {slug} already exists", field="slug")
    merchant = Merchant(slug=slug, name=name, currency=currency, timezone=check_timezone(timezone), **rules)
    session.add(merchant)
    session.flush()
    return merchant


def by_slug(session: Session, slug: str) -> Merchant | None:
    """The merchant with this slug, or None."""
    return session.scalar(sa.select(Merchant).where(Merchant.slug == slug))


def confirm_sales_above(merchant: Merchant, default_major: int, currency: str | None = None) -> Money:
    """Above this a counter sale or top-up (in ``currency``, else the merchant's) asks to be
    confirmed: the merchant's own amount, else ``default_major`` whole units (the programme's
    ``COUNTER_CONFIRM_ABOVE``), which is also the limit for a card in another currency."""
    currency = currency or merchant.currency
    if merchant.confirm_sales_above is not None and currency == merchant.currency:
        return Money(merchant.confirm_sales_above, currency)
    return default_confirm_limit(default_major, currency)


def default_confirm_limit(default_major: int, currency: str) -> Money:
    """The programme's limit for confirming counter sales, in ``currency``."""
    return Money(default_major * 10 ** exponent(currency), currency)


def set_confirm_sales_above(merchant: Merchant, text: object) -> Money | None:
    """Set the amount above which the till asks to confirm a sale; empty text goes back to the
    programme's default (None). Raise ValidationError, changing nothing, for anything but a
    positive amount in the merchant's currency."""
    if text is None or (isinstance(text, str) and not text.strip()):
        merchant.confirm_sales_above = None
        return None
    try:
        limit = Money.parse(text.strip() if isinstance(text, str) else text, merchant.currency)
    except ValidationError as error:
        raise ValidationError(
            f"{error.message}: give an amount in {merchant.currency} like 500.00, or leave it empty for the default",
            field="confirm_sales_above",
        ) from None
    merchant.confirm_sales_above = limit.minor
    return limit
