"""The till's reports: totals per kind over a period, and settlement. No HTTP here.

Days are UTC days, as the ledger and the same-day undo rule count them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.errors import ValidationError
from portal.models import Account, Entry, GiftCard, Merchant, Transaction
from portal.money import Money
from portal.spreadsheets import csv_text
from portal.till.queries import KIND_LABELS, at_counter, day_bounds

MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def slug(self) -> str:
        return f"{self.start.isoformat()}-to-{self.end.isoformat()}"


def _date(text: str | None, name: str, label: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"Give the {label} date as year-month-day, like 2025-03-01", field=name) from None


def period(start_text: str | None, end_text: str | None, today: date) -> Period:
    """The period asked for; by default the month so far. Raise ValidationError for bad dates."""
    start = _date(start_text, "start", "first")
    end = _date(end_text, "end", "last") or today
    start = start or end.replace(day=1)
    if start > end:
        raise ValidationError("The first date must not be after the last", field="start")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationError(f"Choose a period of at most {MAX_DAYS} days", field="start")
    return Period(start, end)


def _bounds(span: Period):
    return day_bounds(span.start)[0], day_bounds(span.end)[1]


def _day(session: Session, column):
    """A timestamp's UTC day as "YYYY-MM-DD", in the database's own dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")
    return sa.func.strftime("%Y-%m-%d", column)  # SQLite keeps UTC timestamps as text


# --- Totals per kind -----------------------------------------------------------------------------


@dataclass
class KindTotal:
    kind: str
    label: str
    count: int
    amount: Money


def totals(session: Session, merchant: Merchant, span: Period) -> list[KindTotal]:
    """How many transactions of each kind happened at this counter, and the value they moved."""
    start, end = _bounds(span)
    moved = sa.func.coalesce(sa.func.sum(sa.case((Entry.amount > 0, Entry.amount), else_=0)), 0)
    rows = session.execute(
        sa.select(Transaction.kind, Entry.currency, sa.func.count(sa.distinct(Transaction.id)), moved)
        .join(Entry, Entry.transaction_id == Transaction.id)
        .where(at_counter(merchant), Transaction.created_at >= start, Transaction.created_at < end)
        .group_by(Transaction.kind, Entry.currency)
        .order_by(Transaction.kind, Entry.currency)
    )
    return [KindTotal(kind, KIND_LABELS.get(kind, kind), count, Money(int(minor), currency)) for kind, currency, count, minor in rows]


# --- Settlement --------------------------------------------------------------------------------


@dataclass
class SettlementDay:
    day: date
    payments: int
    redeemed: Money
    undone: Money

    @property
    def owed(self) -> Money:
        return self.redeemed - self.undone


@dataclass
class Settlement:
    """What the network owes the merchant for network-wide cards taken at its counter."""

    currency: str
    days: list[SettlementDay] = field(default_factory=list)

    def _sum(self, name: str) -> Money:
        return Money(sum(getattr(d, name).minor for d in self.days), self.currency)

    @property
    def payments(self) -> int:
        return sum(d.payments for d in self.days)

    @property
    def redeemed(self) -> Money:
        return self._sum("redeemed")

    @property
    def undone(self) -> Money:
        return self._sum("undone")

    @property
    def owed(self) -> Money:
        return self.redeemed - self.undone


# A captured hold is a payment as much as a redemption is.
PAYMENT_KINDS = ("redeem", "capture")


def settlement(session: Session, merchant: Merchant, span: Period) -> Settlement:
    """Per day: network-wide cards redeemed at this counter (or holds captured), payments undone, and what is owed.

    The merchant's own cards are left out: it took the cash for them when it sold them.
    """
    start, end = _bounds(span)
    day = _day(session, Transaction.created_at)
    rows = session.execute(
        sa.select(
            day,
            sa.func.count(sa.distinct(sa.case((Transaction.kind.in_(PAYMENT_KINDS), Transaction.id)))),
            sa.func.coalesce(sa.func.sum(sa.case((Entry.amount > 0, Entry.amount), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((Entry.amount < 0, -Entry.amount), else_=0)), 0),
        )
        .join(Entry, Entry.transaction_id == Transaction.id)
        .join(Account, Account.id == Entry.account_id)
        .join(GiftCard, GiftCard.id == Transaction.card_id)
        .where(
            at_counter(merchant),
            Account.kind == "settlement",
            Account.merchant_id == Transaction.merchant_id,
            Account.currency == merchant.currency,
            GiftCard.merchant_id.is_(None),
            Transaction.created_at >= start,
            Transaction.created_at < end,
        )
        .group_by(day)
        .order_by(day)
    )
    report = Settlement(merchant.currency)
    for text, payments, redeemed, undone in rows:
        report.days.append(
            SettlementDay(date.fromisoformat(text), payments, Money(int(redeemed), merchant.currency), Money(int(undone), merchant.currency))
        )
    return report


# --- Accepted from other issuers ---------------------------------------------------------------


@dataclass
class IssuerTotal:
    """What this counter took from cards one other issuer sold: a merchant, or the programme (None)."""

    issuer: str
    payments: int
    redeemed: Money
    undone: Money

    @property
    def net(self) -> Money:
        return self.redeemed - self.undone


PROGRAMME_ISSUER = "Giftloop (campaigns, the shop, Loops)"


def accepted_from_others(session: Session, merchant: Merchant, span: Period) -> list[IssuerTotal]:
    """Per issuer, the payments this counter took from cards it did not issue (the issuer/acceptor
    split of a network): the issuer is the merchant whose counter issued the card, else the
    programme; the amounts are what reached this merchant's settlement account, less undone."""
    start, end = _bounds(span)
    issued = (
        sa.select(Transaction.card_id, Transaction.merchant_id.label("issuer_id"))
        .where(Transaction.kind == "issue", Transaction.card_id.is_not(None))
        .subquery()
    )
    rows = session.execute(
        sa.select(
            issued.c.issuer_id,
            sa.func.count(sa.distinct(sa.case((Transaction.kind == "redeem", Transaction.id)))),
            sa.func.coalesce(sa.func.sum(sa.case((Entry.amount > 0, Entry.amount), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((Entry.amount < 0, -Entry.amount), else_=0)), 0),
        )
        .join(Entry, Entry.transaction_id == Transaction.id)
        .join(Account, Account.id == Entry.account_id)
        .outerjoin(issued, issued.c.card_id == Transaction.card_id)
        .where(
            at_counter(merchant),
            Transaction.card_id.is_not(None),
            Account.kind == "settlement",
            Account.merchant_id == merchant.id,
            Account.currency == merchant.currency,
            sa.or_(issued.c.issuer_id.is_(None), issued.c.issuer_id != merchant.id),
            Transaction.created_at >= start,
            Transaction.created_at < end,
        )
        .group_by(issued.c.issuer_id)
    ).all()
    names = dict(session.execute(
        sa.select(Merchant.id, Merchant.name).where(Merchant.id.in_([row[0] for row in rows if row[0] is not None]))
    ).all())
    totals = [
        IssuerTotal(names.get(issuer, PROGRAMME_ISSUER), payments, Money(int(taken), merchant.currency),
                    Money(int(undone), merchant.currency))
        for issuer, payments, taken, undone in rows
    ]
    return sorted(totals, key=lambda total: (total.issuer == PROGRAMME_ISSUER, total.issuer))


# --- CSV ---------------------------------------------------------------------------------------


def totals_csv(merchant: Merchant, span: Period, rows: list[KindTotal]) -> str:
    """The totals per kind as CSV, one line per kind and currency."""
    return csv_text(
        ["merchant", "from", "to", "kind", "description", "count", "amount", "currency"],
        [
            [merchant.slug, span.start, span.end, r.kind, r.label, r.count, str(r.amount), r.amount.currency]
            for r in rows
        ],
    )


def issuers_csv(merchant: Merchant, span: Period, rows: list[IssuerTotal]) -> str:
    """What was accepted from cards other issuers sold, as CSV, one line per issuer."""
    return csv_text(
        ["merchant", "from", "to", "issuer", "payments", "redeemed", "undone", "net", "currency"],
        [
            [merchant.slug, span.start, span.end, r.issuer, r.payments, str(r.redeemed), str(r.undone), str(r.net),
             r.net.currency]
            for r in rows
        ],
    )


def settlement_csv(merchant: Merchant, report: Settlement) -> str:
    """The settlement as CSV, one line per day with payments."""
    return csv_text(
        ["merchant", "day", "payments", "redeemed", "undone", "owed", "currency"],
        [
            [merchant.slug, d.day, d.payments, str(d.redeemed), str(d.undone), str(d.owed), report.currency]
            for d in report.days
        ],
    )
