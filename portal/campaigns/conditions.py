"""When and for whom a coupon applies: its timeframe and "first order only" (issue 27).

A timeframe is read on the merchant's clock (``Merchant.timezone``); in the shop, where no
merchant takes the order, on UTC. "First order only" means the customer's first sale at this
merchant at a till, or their first purchase in the shop. ``portal.campaigns.rules.check_use``
runs the ``refuse_*`` here with every other rule of a use.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.errors import NotValidHere, ValidationError
from portal.models import Account, Entry, GiftCard, Merchant, Order, Transaction, User
from portal.models.campaigns import Campaign, CampaignUse
from portal.models.gifts import GiftSubscription

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DAY_MINUTES = 24 * 60
_CLOCK = re.compile(r"\s*([01]?[0-9]|2[0-4]):([0-5][0-9])\s*")
# What a customer's earlier sale at a till leaves in the ledger: a payment or Loops for a purchase.
SALE_KINDS = ("redeem", "points_earn")
NOT_FIRST_SALE = "This coupon is for a customer's first purchase at {merchant}"
NOT_FIRST_PURCHASE = "This coupon is for a customer's first purchase"


# --- Reading the rules as an admin gives them ----------------------------------------------


def check_weekdays(value: object) -> list[int]:
    """Days a coupon works, 0 (Monday) to 6 (Sunday), as numbers or names (Mon, tuesday); empty: every day."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    items = re.split(r"[\s,;]+", value.strip()) if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValidationError("Give the weekdays as a list, like Mon, Tue", field="weekdays")
    days = set()
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 6:
            days.add(item)
        elif isinstance(item, str) and item.strip().isdecimal() and int(item) <= 6:
            days.add(int(item))
        elif isinstance(item, str) and item.strip()[:3].title() in WEEKDAYS:
            days.add(WEEKDAYS.index(item.strip()[:3].title()))
        else:
            raise ValidationError(f"{item} is not a weekday: give Mon to Sun", field="weekdays")
    return sorted(days) if len(days) < 7 else []


def _minutes(value: object, field: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
    minutes = int(match[1]) * 60 + int(match[2]) if match else -1
    if not 0 <= minutes <= DAY_MINUTES:
        raise ValidationError("Give a time of day like 09:00 or 17:30", field=field)
    return minutes


def check_hours(start: object, end: object) -> tuple[int | None, int | None]:
    """The hours a coupon works, "HH:MM" from and until (until after midnight runs into the next
    day); both or neither. Returned as minutes from midnight."""
    begins, ends = _minutes(start, "hours_from"), _minutes(end, "hours_until")
    if begins is None and ends is None:
        return None, None
    if begins is None:
        raise ValidationError("Give the time the coupon starts working each day, like 09:00", field="hours_from")
    if ends is None:
        raise ValidationError("Give the time the coupon stops working each day, like 17:00", field="hours_until")
    begins %= DAY_MINUTES
    if begins == ends % DAY_MINUTES:
        raise ValidationError("The hours must not start and end at the same time", field="hours_until")
    return begins, ends


def check_flag(value: object, field: str) -> bool:
    """A yes/no rule: a JSON boolean, or a form's ticked box ("y", "1", "on")."""
    if value is None or value is False or value == "":
        return False
    if value is True or (isinstance(value, str) and value.strip().lower() in ("y", "yes", "1", "on", "true")):
        return True
    raise ValidationError("Give true or false", field=field)


# --- Deciding one use ---------------------------------------------------------------------


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def describe_timeframe(campaign: Campaign) -> str:
    """The timeframe in words: "Mon, Tue 09:00–17:00"; empty when the coupon works any time."""
    days = ", ".join(WEEKDAYS[d] for d in campaign.weekdays or [])
    hours = "" if campaign.hours_from is None else f"{clock(campaign.hours_from)}–{clock(campaign.hours_until)}"
    return " ".join(part for part in (days, hours) if part)


def _zone(merchant: Merchant | None) -> ZoneInfo:
    return ZoneInfo(merchant.timezone if merchant is not None else "UTC")


def within_timeframe(campaign: Campaign, local: datetime) -> bool:
    """Whether a local time falls on the coupon's weekdays and in its hours."""
    if campaign.weekdays and local.weekday() not in campaign.weekdays:
        return False
    if campaign.hours_from is None:
        return True
    minute = local.hour * 60 + local.minute
    if campaign.hours_from < campaign.hours_until:
        return campaign.hours_from <= minute < campaign.hours_until
    return minute >= campaign.hours_from or minute < campaign.hours_until


def refuse_outside_timeframe(campaign: Campaign, merchant: Merchant | None, now: datetime) -> None:
    """Raise NotValidHere outside the coupon's weekdays and hours, on the merchant's clock."""
    if not campaign.weekdays and campaign.hours_from is None:
        return
    zone = _zone(merchant)
    if not within_timeframe(campaign, now.astimezone(zone)):
        raise NotValidHere(f"This coupon works only {describe_timeframe(campaign)} ({zone.key} time)", field="code")


def _earlier_sale_at(session: Session, merchant: Merchant, email: str, now: datetime) -> bool:
    user_id = session.scalar(sa.select(User.id).where(User.email == email))
    coupon_before = sa.select(CampaignUse.id).where(
        CampaignUse.merchant_id == merchant.id, CampaignUse.email == email, CampaignUse.created_at < now
    )
    if user_id is None:
        return session.scalar(sa.select(coupon_before.exists()))
    paid_from_theirs = sa.or_(
        Transaction.card_id.in_(sa.select(GiftCard.id).where(GiftCard.owner_id == user_id)),
        Transaction.id.in_(sa.select(Entry.transaction_id).join(Account).where(Account.owner_id == user_id)),
    )
    sale_before = sa.select(Transaction.id).where(
        Transaction.merchant_id == merchant.id, Transaction.kind.in_(SALE_KINDS), Transaction.created_at < now,
        paid_from_theirs,
    )
    return session.scalar(sa.select(sa.or_(coupon_before.exists(), sale_before.exists())))


def _earlier_purchase_in_shop(session: Session, email: str, now: datetime) -> bool:
    user_id = session.scalar(sa.select(User.id).where(User.email == email))
    order_before = sa.select(Order.id).where(
        sa.or_(Order.buyer_email == email, Order.buyer_id == user_id), Order.paid_at < now
    )
    gift_before = sa.select(GiftSubscription.id).where(
        GiftSubscription.buyer_id == user_id, GiftSubscription.paid_at < now
    )
    return session.scalar(sa.select(sa.or_(order_before.exists(), gift_before.exists())))


def refuse_not_first_order(
    session: Session, campaign: Campaign, merchant: Merchant | None, email: str | None, now: datetime
) -> None:
    """Raise NotValidHere when a "first order only" coupon meets a customer who bought before:
    at this merchant's till, or in the shop when no merchant takes the order."""
    if not campaign.first_order_only:
        return
    if not email:
        raise ValidationError(
            "This coupon is for a first purchase: give the customer's e-mail address", field="customer_email"
        )
    if merchant is not None:
        if _earlier_sale_at(session, merchant, email.lower(), now):
            raise NotValidHere(NOT_FIRST_SALE.format(merchant=merchant.name), field="code")
    elif _earlier_purchase_in_shop(session, email.lower(), now):
        raise NotValidHere(NOT_FIRST_PURCHASE, field="code")
