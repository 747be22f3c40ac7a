"""Re-derive every balance from the entries and check every ledger invariant (DESIGN §2)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.models import Account, Entry, GiftCard, Transaction
from portal.models.holds import Hold, holds_key_in_sql


def verify(session: Session) -> list[str]:
    """Every problem found, each naming the account (or transaction); [] when the ledger is sound."""
    return [
        *_balances_match_entries(session),
        *_stored_value_not_negative(session),
        *_entries_in_account_currency(session),
        *_transactions_balance(session),
        *_closed_cards_are_empty(session),
        *_holds_accounts_match_open_holds(session),
    ]


def _balances_match_entries(session: Session) -> list[str]:
    sums = (
        sa.select(Entry.account_id, sa.func.sum(Entry.amount).label("total"))
        .group_by(Entry.account_id)
        .subquery()
    )
    derived = sa.func.coalesce(sums.c.total, 0)
    rows = session.execute(
        sa.select(Account.key, Account.balance, derived)
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(Account.balance != derived)
        .order_by(Account.key)
    )
    return [f"{key}: balance {balance} but its entries sum to {int(total)}" for key, balance, total in rows]


def _stored_value_not_negative(session: Session) -> list[str]:
    rows = session.execute(
        sa.select(Account.key, Account.balance)
        .where(Account.kind != "system", Account.balance < 0)
        .order_by(Account.key)
    )
    return [f"{key}: stored value is negative ({balance})" for key, balance in rows]


def _entries_in_account_currency(session: Session) -> list[str]:
    rows = session.execute(
        sa.select(Account.key, Account.currency, Entry.id, Entry.currency)
        .join(Entry, Entry.account_id == Account.id)
        .where(Entry.currency != Account.currency)
        .order_by(Entry.id)
    )
    return [
        f"{key}: entry {entry_id} is in {entry_currency} on a {currency} account"
        for key, currency, entry_id, entry_currency in rows
    ]


def _transactions_balance(session: Session) -> list[str]:
    unbalanced = session.execute(
        sa.select(Transaction.id, Transaction.kind, Entry.currency, sa.func.sum(Entry.amount))
        .join(Entry, Entry.transaction_id == Transaction.id)
        .group_by(Transaction.id, Transaction.kind, Entry.currency)
        .having(sa.func.sum(Entry.amount) != 0)
        .order_by(Transaction.id)
    )
    problems = [
        f"transaction {txn_id} ({kind}): its {currency} entries sum to {int(total)}, not 0"
        for txn_id, kind, currency, total in unbalanced
    ]
    empty = session.execute(
        sa.select(Transaction.id, Transaction.kind)
        .where(~sa.exists().where(Entry.transaction_id == Transaction.id))
        .order_by(Transaction.id)
    )
    problems += [f"transaction {txn_id} ({kind}) has no entries" for txn_id, kind in empty]
    return problems


def _closed_cards_are_empty(session: Session) -> list[str]:
    # Cancelling and expiring move the whole balance to breakage; value left behind is lost money.
    rows = session.execute(
        sa.select(Account.key, GiftCard.status, Account.balance)
        .join(GiftCard, GiftCard.account_id == Account.id)
        .where(GiftCard.status.in_(("expired", "cancelled")), Account.balance != 0)
        .order_by(Account.key)
    )
    return [f"{key}: the card is {status} but still holds {balance}" for key, status, balance in rows]


def _holds_accounts_match_open_holds(session: Session) -> list[str]:
    # A card's holds account keeps exactly its open holds: more is value no hold can give back.
    open_holds = (
        sa.select(Hold.card_id, sa.func.sum(Hold.amount).label("total"))
        .where(Hold.state == "open")
        .group_by(Hold.card_id)
        .subquery()
    )
    reserved = sa.func.coalesce(open_holds.c.total, 0)
    rows = session.execute(
        sa.select(Account.key, Account.balance, reserved)
        .join(GiftCard, Account.key == holds_key_in_sql(GiftCard.id))
        .outerjoin(open_holds, open_holds.c.card_id == GiftCard.id)
        .where(Account.kind == "holds", Account.balance != reserved)
        .order_by(Account.key)
    )
    return [f"{key}: holds {balance} but the card's open holds add up to {int(total)}" for key, balance, total in rows]
