"""The programme's "maximum loaded per customer per day", counted in a row per customer, currency
and day (``daily_loads``) and enforced by the statement that adds to it.

Before payment the shop tells a buyer how much room they have left (``check_room``: loaded today
plus their orders still waiting for payment). That read only informs: the limit itself is the
``WHERE`` of the UPDATE that ``record_load`` runs when a payment is confirmed, in the transaction
that moves the money, so two payments confirmed at once cannot both pass it (PostgreSQL makes the
second wait on the row and re-checks the condition against the first one's total). A refund gives
no room back: what was loaded that day was loaded.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.errors import LimitExceeded
from portal.models import ProgrammeLimits, utcnow
from portal.models.orders import DailyLoad, Order
from portal.orders.programme import Programme

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def customer_key(buyer_id: int | None, buyer_email: str) -> str:
    """Who the limit counts: the account of a signed-in buyer, else the guest's e-mail address."""
    return f"user:{buyer_id}" if buyer_id is not None else f"email:{buyer_email}"


def _loaded(session: Session, customer: str, currency: str, day: date) -> int:
    return session.scalar(
        sa.select(DailyLoad.loaded).where(DailyLoad.customer == customer, DailyLoad.currency == currency, DailyLoad.day == day)
    ) or 0


def _waiting(session: Session, buyer_id: int | None, buyer_email: str, currency: str, now: datetime) -> int:
    """The buyer's orders that may still be paid (pending, not yet expired)."""
    who = Order.buyer_id == buyer_id if buyer_id is not None else Order.buyer_email == buyer_email
    return session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Order.total), 0))
        .where(who, Order.currency == currency, Order.state == "pending", Order.expires_at > now)
    )


def check_room(session: Session, programme: Programme, *, total: int, buyer_id: int | None, buyer_email: str,
               now: datetime | None = None) -> None:
    """Raise LimitExceeded, saying what is left today, if ``total`` more would pass the daily maximum."""
    now = now or utcnow()
    customer = customer_key(buyer_id, buyer_email)
    used = _loaded(session, customer, programme.currency, now.date()) + _waiting(
        session, buyer_id, buyer_email, programme.currency, now
    )
    if used + total > programme.max_daily_per_customer:
        left = max(programme.max_daily_per_customer - used, 0)
        raise LimitExceeded(
            f"You can buy at most {programme.money(programme.max_daily_per_customer)} a day"
            f" ({programme.money(left)} left today)", field="amount",
        )


def _daily_maximum(currency: str) -> sa.ColumnElement[int]:
    """The currency's daily maximum as the statement reads it: the admin's, else the default."""
    set_by_admin = (
        sa.select(ProgrammeLimits.max_daily_per_customer).where(ProgrammeLimits.currency == currency).scalar_subquery()
    )
    return sa.func.coalesce(set_by_admin, Programme(currency=currency).max_daily_per_customer)


def record_load(session: Session, order: Order, now: datetime) -> int:
    """Add a paid order's total to its buyer's day, within the daily maximum; returns the day's total.

    Raise LimitExceeded if it would pass the maximum (nothing is added).
    """
    customer, day = customer_key(order.buyer_id, order.buyer_email), now.date()
    insert = _INSERTS[session.connection().dialect.name]
    session.execute(
        insert(DailyLoad).values(customer=customer, currency=order.currency, day=day, loaded=0)
        .on_conflict_do_nothing(index_elements=["customer", "currency", "day"])
    )
    loaded = session.execute(
        sa.update(DailyLoad)
        .where(DailyLoad.customer == customer, DailyLoad.currency == order.currency, DailyLoad.day == day,
               DailyLoad.loaded + order.total <= _daily_maximum(order.currency))
        .values(loaded=DailyLoad.loaded + order.total)
        .returning(DailyLoad.loaded),
        execution_options={"synchronize_session": False},
    ).scalar()
    if loaded is None:
        raise LimitExceeded("This payment would pass the buyer's daily maximum", field="amount")
    return loaded
