"""Accounts by readable key: get-or-create that two requests can race safely."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.models import Account, utcnow
from portal.models.ledger import ACCOUNT_KINDS

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def account_for(
    session: Session,
    key: str,
    kind: str,
    currency: str,
    *,
    owner_id: int | None = None,
    merchant_id: int | None = None,
) -> Account:
    """The account with this key, created if missing (INSERT … ON CONFLICT DO NOTHING).

    Raise ValueError if an account with the key exists with another kind or currency.
    """
    if kind not in ACCOUNT_KINDS:
        raise ValueError(f"unknown account kind {kind!r}")
    account = session.scalar(sa.select(Account).where(Account.key == key))
    if account is None:
        insert = _INSERTS[session.connection().dialect.name]
        values = dict(
            key=key, kind=kind, currency=currency, balance=0,
            owner_id=owner_id, merchant_id=merchant_id, created_at=utcnow(),
        )
        session.execute(insert(Account).values(**values).on_conflict_do_nothing(index_elements=["key"]))
        account = session.scalar(sa.select(Account).where(Account.key == key))
    if account.kind != kind or account.currency != currency:
        raise ValueError(f"account {key} is {account.kind}/{account.currency}, not {kind}/{currency}")
    return account


def system_account(session: Session, name: str, currency: str) -> Account:
    """A system account ("issuance", "promotions", "breakage", "points_pool", "cash", …) per currency."""
    return account_for(session, f"system:{name}:{currency}", "system", currency)


def settlement_account(session: Session, merchant_id: int, currency: str) -> Account:
    """What the network owes a merchant for cards taken at its counter."""
    return account_for(
        session, f"settlement:{merchant_id}:{currency}", "settlement", currency, merchant_id=merchant_id
    )


def balance_by_key(session: Session, key: str) -> int:
    """The balance of an account by key; 0 when it was never opened (a look is not a reason to open it)."""
    return session.scalar(sa.select(Account.balance).where(Account.key == key)) or 0


def balance_of(session: Session, account_id: int) -> int:
    """The stored balance of an account, read from the database now."""
    balance = session.scalar(sa.select(Account.balance).where(Account.id == account_id))
    if balance is None:
        raise ValueError(f"no account {account_id}")
    return balance
