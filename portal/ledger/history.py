"""What happened on one account, newest first, for card and wallet pages."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.models import Entry, Transaction


def history(session: Session, account_id: int, *, limit: int = 50) -> list[tuple[Transaction, int]]:
    """(transaction, net amount on this account) pairs, newest first."""
    net = sa.func.sum(Entry.amount).label("net")
    rows = session.execute(
        sa.select(Transaction, net)
        .join(Entry, Entry.transaction_id == Transaction.id)
        .where(Entry.account_id == account_id)
        .group_by(Transaction.id)
        .order_by(Transaction.created_at.desc(), Transaction.id.desc())
        .limit(limit)
    )
    # PostgreSQL sums BIGINT into NUMERIC: hand back plain ints, as Money wants.
    return [(transaction, int(amount)) for transaction, amount in rows]
