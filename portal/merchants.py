"""Merchants: creating them and their rules. No HTTP here."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.errors import ValidationError
from portal.models import Merchant
from portal.money import exponent

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
