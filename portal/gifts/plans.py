"""Subscription plans on sale, and what a gift of one costs (DESIGN §2, gift subscription)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.errors import ValidationError
from portal.models.gifts import SubscriptionPlan
from portal.money import Money

# The plans ``portal demo`` (and ``ensure_plans``) puts on sale.
DEFAULT_PLANS = (
    {"identifier": "plus", "name": "Giftloop Plus", "duration_days": 30, "currency": "USD", "price": 499,
     "price_loops": 499,
     "description": "The Plus perks merchants and apps offer on Giftloop: they see the membership (through the API) "
                    "until the subscription ends."},
)
MAX_DESCRIPTION = 500
MAX_SUBSCRIPTION_DAYS = 3660
IDENTIFIER = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


def ensure_plans(session: Session) -> Iterator[str]:
    """Put the default plans on sale if they are missing; report each one added.

    A default plan on sale from before plans had descriptions gets its words (and keeps any it has)."""
    for values in DEFAULT_PLANS:
        plan = session.scalar(sa.select(SubscriptionPlan).where(SubscriptionPlan.identifier == values["identifier"]))
        if plan is not None:
            plan.description = plan.description or values["description"]
            continue
        session.add(SubscriptionPlan(**values))
        session.flush()
        yield f"subscription plan {values['identifier']} ({values['name']})"


def save_plan(
    session: Session, identifier: str, *, name: str, duration_days: int, price: Money, price_loops: int,
    description: str | None = None,
) -> SubscriptionPlan:
    """Put a plan on sale or change its name, period, prices and what it gives (kept when None);
    gifts already bought keep their price.

    Raise ValidationError naming the field if the identifier, name, description, period or a price is unusable.
    """
    identifier = (identifier or "").strip().lower()
    if not IDENTIFIER.fullmatch(identifier):
        raise ValidationError("A plan identifier is 1 to 40 lowercase letters, digits or dashes", field="identifier")
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationError("Give the plan a name of 1 to 120 characters", field="name")
    if description is not None and len(description.strip()) > MAX_DESCRIPTION:
        raise ValidationError(f"Say what the plan gives in at most {MAX_DESCRIPTION} characters", field="description")
    if not 1 <= duration_days <= MAX_SUBSCRIPTION_DAYS:
        raise ValidationError(f"A plan lasts 1 to {MAX_SUBSCRIPTION_DAYS} days", field="duration_days")
    if price.minor <= 0 or price.currency == "LOOP":
        raise ValidationError("The price is a positive amount of money", field="price")
    if price_loops <= 0:
        raise ValidationError("The price in Loops is a positive whole number", field="price_loops")
    plan = session.scalar(sa.select(SubscriptionPlan).where(SubscriptionPlan.identifier == identifier))
    if plan is None:
        plan = SubscriptionPlan(identifier=identifier)
        session.add(plan)
    plan.name, plan.duration_days, plan.currency = name, duration_days, price.currency
    plan.price, plan.price_loops = price.minor, price_loops
    if description is not None:
        plan.description = description.strip()
    session.flush()
    return plan


def plans_on_sale(session: Session) -> list[SubscriptionPlan]:
    """Every plan, cheapest first."""
    return list(session.scalars(sa.select(SubscriptionPlan).order_by(SubscriptionPlan.price, SubscriptionPlan.id)))


def find_plan(session: Session, identifier: object) -> SubscriptionPlan:
    """The plan with this identifier (``plus``); raise ValidationError naming the plans on sale."""
    plan = None
    if isinstance(identifier, str) and identifier.strip():
        plan = session.scalar(
            sa.select(SubscriptionPlan).where(SubscriptionPlan.identifier == identifier.strip().lower())
        )
    if plan is None:
        names = ", ".join(p.identifier for p in plans_on_sale(session)) or "none yet"
        raise ValidationError(f"Choose a subscription plan: {names}", field="subscription_identifier")
    return plan


def check_subscription_days(plan: SubscriptionPlan, days: object) -> int:
    """How long the gift's subscription lasts: the plan's period, or a whole number of periods."""
    if days is None or days == "":
        return plan.duration_days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_SUBSCRIPTION_DAYS \
            or days % plan.duration_days:
        raise ValidationError(
            f"A {plan.name} gift lasts a whole number of {plan.duration_days}-day periods, "
            f"up to {MAX_SUBSCRIPTION_DAYS} days",
            field="subscription_duration_days",
        )
    return days


def price_of(plan: SubscriptionPlan, payment_method: str, days: int) -> Money:
    """The list price of ``days`` of the plan, in money for the wallet or in Loops."""
    periods = days // plan.duration_days
    if payment_method == "loops":
        return Money(plan.price_loops * periods, "LOOP")
    return Money(plan.price * periods, plan.currency)
