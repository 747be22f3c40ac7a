"""The double-entry ledger: accounts, transactions and their entries (DESIGN §2)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, created_at, intpk

ACCOUNT_KINDS = ("card", "wallet", "loops", "settlement", "system", "holds")
TRANSACTION_KINDS = (
    "issue", "load", "redeem", "reverse", "transfer", "expire", "reinstate", "adjust",
    "points_earn", "points_convert", "credit_code", "gift_purchase", "refund",
    "hold", "capture", "release", "lapse",
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Account(Base):
    """Something that holds value in one currency; ``balance`` caches the sum of its entries."""

    __tablename__ = "accounts"
    __table_args__ = (
        sa.CheckConstraint(_one_of("kind", ACCOUNT_KINDS), name="kind_known"),
        # Stored value never goes below zero; only system accounts (issuance, cash) may.
        sa.CheckConstraint("balance >= 0 OR kind = 'system'", name="stored_value_not_negative"),
    )

    id: Mapped[intpk]
    # A readable unique name: "card:42", "wallet:7:USD", "loops:7", "settlement:3:USD",
    # "system:issuance:USD", "holds:42" (a card's open holds). It makes get-or-create a single unique look-up.
    key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    currency: Mapped[str] = mapped_column(sa.String(4))
    balance: Mapped[int] = mapped_column(default=0)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    merchant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("merchants.id"))
    created_at: Mapped[created_at]

    def __repr__(self) -> str:
        return f"<Account {self.key} {self.balance}>"


class Transaction(Base):
    """One change of value; its entries sum to zero per currency. Never updated or deleted."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (
        sa.CheckConstraint(_one_of("kind", TRANSACTION_KINDS), name="kind_known"),
        # An idempotency key is unique per actor ("user:7", "token:3", "system").
        sa.UniqueConstraint("actor", "idempotency_key", name="uq_ledger_transactions_actor_key"),
    )

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(sa.String(20))
    actor: Mapped[str] = mapped_column(sa.String(40))
    idempotency_key: Mapped[str] = mapped_column(sa.String(200))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    token_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_tokens.id"))
    merchant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    card_id: Mapped[int | None] = mapped_column(sa.ForeignKey("gift_cards.id"), index=True)
    # A reversal names what it reverses; each transaction is reversed at most once.
    reverses_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ledger_transactions.id"), unique=True)
    memo: Mapped[str] = mapped_column(sa.String(500), default="")
    reference: Mapped[str | None] = mapped_column(sa.String(100))
    # SHA-256 of the request that made it: the same key with another request is a conflict.
    request_hash: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[created_at] = mapped_column(index=True)

    entries: Mapped[list[Entry]] = relationship(back_populates="transaction", lazy="selectin")


class Entry(Base):
    """A signed amount in minor units on one account, as part of one transaction."""

    __tablename__ = "ledger_entries"
    __table_args__ = (sa.CheckConstraint("amount <> 0", name="amount_not_zero"),)

    id: Mapped[intpk]
    transaction_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(sa.String(4))

    transaction: Mapped[Transaction] = relationship(back_populates="entries")
    account: Mapped[Account] = relationship(lazy="joined")
