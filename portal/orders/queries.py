"""Reading orders for the people who placed them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.models.orders import Order

RECENT = 100


def orders_of(session: Session, buyer_id: int) -> list[Order]:
    """A customer's orders, newest first (the most recent hundred)."""
    return list(session.scalars(
        sa.select(Order).where(Order.buyer_id == buyer_id).order_by(Order.id.desc()).limit(RECENT)
    ))
