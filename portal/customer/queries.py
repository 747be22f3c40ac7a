"""What the customer pages show, read in as few queries as the page needs.

Scoping by owner lives here, in ``own_card``, not in each view.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from portal.cards.holds import held_on
from portal.cards.operations import PROMOTIONAL_DEFAULT_DAYS, PURCHASED_MIN_DAYS
from portal.cards.transfers import pending_transfer
from portal.ledger import history
from portal.loyalty.points import conversion_rate, quote
from portal.loyalty.tiers import Tier, next_tier, progress, tier_for
from portal.models import Account, GiftCard, Merchant, Transfer, User, utcnow
from portal.models.holds import holds_key_in_sql
from portal.money import Money

STATUS_ORDER = {"active": 0, "frozen": 1, "expired": 2, "cancelled": 3}

# What each kind of ledger transaction means to the card's owner.
HISTORY_LABELS = {
    "issue": "Card issued",
    "load": "Topped up",
    "redeem": "Paid",
    "reverse": "Undone",
    "transfer": "Transfer",
    "expire": "Expired",
    "reinstate": "Reinstated",
    "adjust": "Correction",
    "points_convert": "Bought with Loops",
    "credit_code": "Credit code",
    "gift_purchase": "Gift",
    "refund": "Refund",
    "hold": "Held for a purchase",
    "capture": "Hold settled, the rest back",
    "release": "Hold released",
    "lapse": "Hold lapsed",
}
# The same transactions seen from wallet credit or Loops.
BALANCE_LABELS = HISTORY_LABELS | {
    "points_earn": "Earned",
    "points_convert": "Turned into a gift card",
    "load": "Topped up a card",
    "redeem": "Spent",
    "gift_purchase": "Bought a gift",
}


@dataclass
class CardLine:
    card: GiftCard
    balance: int
    days_left: int
    held: bool = False  # waiting for a friend to claim it
    expired: bool = False
    on_hold: int = 0  # what open holds reserve for sales not yet complete (``balance`` is the rest)


@dataclass
class Dashboard:
    wallets: list[Account]
    loops: int
    tier: Tier
    next_tier: Tier | None
    loops_to_next: int
    percent_to_next: int
    cards: list[CardLine] = field(default_factory=list)
    transfers_sent: list[Transfer] = field(default_factory=list)
    # What "no credit yet" is counted in: the customer's cards' currency, else the first shop's.
    currency: str = "USD"


def _days_until(moment: datetime, now: datetime) -> int:
    return max(0, (moment - now).days)


def is_expired(card: GiftCard, now: datetime) -> bool:
    """Whether the card's date has passed, even if the daily sweep has not marked it yet."""
    return card.status == "expired" or card.expires_at <= now


def _status(line: CardLine) -> str:
    return "expired" if line.card.status == "active" and line.expired else line.card.status


def dashboard_for(session: Session, user: User) -> Dashboard:
    """Wallet credit, Loops and tier, and cards with the most urgent first."""
    accounts = session.scalars(
        sa.select(Account).where(Account.owner_id == user.id, Account.kind.in_(("wallet", "loops")))
    ).all()
    wallets = sorted((a for a in accounts if a.kind == "wallet"), key=lambda a: a.currency)
    loops = sum(a.balance for a in accounts if a.kind == "loops")
    now = utcnow()
    cards = session.scalars(sa.select(GiftCard).where(GiftCard.owner_id == user.id)).all()
    waiting = transfers_sent(session, user)
    held = {transfer.card_id for transfer in waiting}
    holds = aliased(Account)
    on_hold = dict(session.execute(
        sa.select(GiftCard.id, holds.balance).join(holds, holds.key == holds_key_in_sql(GiftCard.id))
        .where(GiftCard.owner_id == user.id, holds.balance > 0)
    ).all())
    lines = [
        CardLine(card, card.account.balance, _days_until(card.expires_at, now), card.id in held, is_expired(card, now),
                 on_hold.get(card.id, 0))
        for card in cards
    ]
    # Usable cards first, and among them the one that expires soonest.
    lines.sort(key=lambda line: (STATUS_ORDER[_status(line)], line.card.expires_at))
    to_next, percent = progress(user.lifetime_loops)
    return Dashboard(
        wallets=wallets,
        loops=loops,
        tier=tier_for(user.lifetime_loops),
        next_tier=next_tier(user.lifetime_loops),
        loops_to_next=to_next,
        percent_to_next=percent,
        cards=lines,
        transfers_sent=waiting,
        currency=next((card.currency for card in cards), None)
        or session.scalar(sa.select(Merchant.currency).order_by(Merchant.id).limit(1)) or "USD",
    )


def own_card(session: Session, user: User, card_id: int) -> GiftCard | None:
    """The card if this user owns it; None for a missing card and for someone else's alike."""
    card = session.get(GiftCard, card_id)
    if card is None or card.owner_id != user.id:
        return None
    return card


def claimed_from(session: Session, user: User, card_id: int) -> Transfer | None:
    """The transfer by which a friend took this card from the user, if that is where it went."""
    return session.scalar(
        sa.select(Transfer).where(
            Transfer.card_id == card_id, Transfer.from_user_id == user.id, Transfer.status == "claimed"
        ).order_by(Transfer.id.desc()).limit(1)
    )


@dataclass
class CardState:
    """What the live balance shows; its fingerprint is the fragment's ETag."""

    card: GiftCard
    balance: int  # what it can pay now: its open holds are not in it
    held: int  # what open holds reserve for sales not yet complete
    transfer: Transfer | None
    expired: bool
    today: str
    days_left: int

    @property
    def usable(self) -> bool:
        return self.card.status == "active" and not self.expired and self.transfer is None

    @property
    def etag(self) -> str:
        card = self.card
        return _balance_etag(
            card.id, card.owner_id, self.balance, self.held, card.status, card.expires_at,
            self.transfer.id if self.transfer else None, self.expired, self.today,
        )


def _balance_etag(
    card_id: int, owner_id: int, balance: int, held: int, status: str, expires_at: datetime, transfer_id: int | None,
    expired: bool, today: str,
) -> str:
    """The fingerprint of everything the live balance shows (``today``: the days left it counts)."""
    parts = (card_id, owner_id, balance, held, status, expires_at.isoformat(), transfer_id, expired, today)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def balance_etag(session: Session, user: User, card_id: int) -> str | None:
    """The live balance's ETag from one statement, so an unchanged poll costs no more;
    None when the card is not this user's (missing and someone else's alike)."""
    now = utcnow()
    waiting = (
        sa.select(Transfer.id)
        .where(Transfer.card_id == GiftCard.id, Transfer.status == "pending", Transfer.expires_at > now)
        .limit(1)
        .scalar_subquery()
    )
    holds = aliased(Account)
    held = sa.func.coalesce(
        sa.select(holds.balance).where(holds.key == holds_key_in_sql(GiftCard.id)).scalar_subquery(), 0
    )
    row = session.execute(
        sa.select(GiftCard.owner_id, Account.balance, held, GiftCard.status, GiftCard.expires_at, waiting)
        .join(Account, Account.id == GiftCard.account_id)
        .where(GiftCard.id == card_id, GiftCard.owner_id == user.id)
    ).one_or_none()
    if row is None:
        return None
    owner_id, balance, held, status, expires_at, transfer_id = row
    expired = status == "expired" or expires_at <= now
    return _balance_etag(
        card_id, owner_id, balance, held, status, expires_at, transfer_id, expired, now.date().isoformat()
    )


def card_state(session: Session, card: GiftCard) -> CardState:
    """The card's balance, status and hold, read fresh from the database."""
    session.refresh(card, ["status", "owner_id", "expires_at"])
    balance = session.scalar(sa.select(Account.balance).where(Account.id == card.account_id))
    now = utcnow()
    return CardState(
        card=card, balance=balance, held=held_on(session, card), transfer=pending_transfer(session, card, now),
        expired=is_expired(card, now), today=now.date().isoformat(), days_left=_days_until(card.expires_at, now),
    )


@dataclass
class HistoryLine:
    when: datetime
    label: str
    amount: int


def card_history(session: Session, card: GiftCard) -> list[HistoryLine]:
    """Everything that happened to the card's balance, newest first, in the owner's words."""
    lines = []
    for tx, amount, label in _labelled(session, card.account_id, HISTORY_LABELS, "Paid at"):
        if tx.kind == "load" and tx.memo.startswith("Top-up from "):
            label = {"loops": "Topped up with Loops", "wallet": "Topped up from wallet credit",
                     "cash": "Topped up at the counter"}.get(tx.memo.removeprefix("Top-up from "), label)
        lines.append(HistoryLine(tx.created_at, label, amount))
    return lines


@dataclass
class BalanceHistory:
    title: str
    currency: str
    lines: list[HistoryLine]


def credit_and_loops_history(session: Session, user: User) -> list[BalanceHistory]:
    """The history of each wallet credit account and of the Loops, newest first."""
    accounts = session.scalars(
        sa.select(Account).where(Account.owner_id == user.id, Account.kind.in_(("wallet", "loops")))
        .order_by(Account.kind.desc(), Account.currency)
    ).all()
    return [
        BalanceHistory(
            "Loops" if account.kind == "loops" else f"Wallet credit ({account.currency})", account.currency,
            [HistoryLine(tx.created_at, label, amount)
             for tx, amount, label in _labelled(session, account.id, BALANCE_LABELS, "Spent at")],
        )
        for account in accounts
    ]


def _labelled(session: Session, account_id: int, labels: dict[str, str], paid_at: str):
    """(transaction, net amount, label) for the account's history; payments name the shop.

    Memos stay out: staff and admins write them for each other."""
    rows = history(session, account_id, limit=200)
    merchant_ids = {tx.merchant_id for tx, _ in rows if tx.merchant_id}
    names = dict(session.execute(sa.select(Merchant.id, Merchant.name).where(Merchant.id.in_(merchant_ids))).all())
    for tx, amount in rows:
        label = labels.get(tx.kind, tx.kind.replace("_", " ").capitalize())
        if tx.kind == "redeem" and tx.merchant_id in names:
            label = f"{paid_at} {names[tx.merchant_id]}"
        elif tx.kind == "points_earn" and tx.merchant_id in names:
            label = f"{label} at {names[tx.merchant_id]}"
        yield tx, amount, label


@dataclass
class TopUpPreview:
    amount: Money
    source: str
    new_balance: int
    new_expiry: datetime
    loops_needed: int | None
    available: int
    enough: bool


def topup_preview(session: Session, user: User, card: GiftCard, amount: Money, source: str) -> TopUpPreview:
    """What a top-up would do: the new balance and expiry, and what it costs from which source.

    Follows the rule in ``operations.load``: a purchased card's expiry moves to five years from
    today (never earlier); a promotional card keeps its date.
    """
    now = utcnow()
    state = card_state(session, card)
    new_expiry = card.expires_at
    if card.kind == "purchased":
        new_expiry = max(card.expires_at, now + timedelta(days=PURCHASED_MIN_DAYS))
    if source == "loops":
        needed = quote(user, amount, card.merchant)
        available = loops_balance(session, user)
        enough = available >= needed
    else:
        needed = None
        available = wallet_balance(session, user, card.currency)
        enough = available >= amount.minor
    return TopUpPreview(amount, source, state.balance + amount.minor, new_expiry, needed, available, enough)


@dataclass
class ConvertPreview:
    value: Money
    loops_needed: int
    loops: int
    rate: int
    merchant: Merchant | None
    expires_at: datetime

    @property
    def enough(self) -> bool:
        return self.loops >= self.loops_needed


def convert_preview(session: Session, user: User, value: Money, merchant: Merchant | None) -> ConvertPreview:
    """The Loops a card of this value costs the user, and when it would expire."""
    return ConvertPreview(
        value=value,
        loops_needed=quote(user, value, merchant),
        loops=loops_balance(session, user),
        rate=conversion_rate(user, merchant),
        merchant=merchant,
        expires_at=utcnow() + timedelta(days=PROMOTIONAL_DEFAULT_DAYS),
    )


def loops_balance(session: Session, user: User) -> int:
    """The user's Loops now (0 before the first are earned)."""
    return session.scalar(
        sa.select(Account.balance).where(Account.key == f"loops:{user.id}")
    ) or 0


def wallet_balance(session: Session, user: User, currency: str) -> int:
    """The user's wallet credit in one currency now."""
    return session.scalar(
        sa.select(Account.balance).where(Account.key == f"wallet:{user.id}:{currency}")
    ) or 0


def merchants(session: Session) -> list[Merchant]:
    """Every merchant, by name, for the "where to use it" choice."""
    return list(session.scalars(sa.select(Merchant).order_by(Merchant.name)))


def currencies(session: Session) -> list[str]:
    """The currencies merchants trade in (a network card is in one of them); USD when there are none."""
    found = sorted(set(session.scalars(sa.select(Merchant.currency).distinct())))
    return found or ["USD"]


def transfers_sent(session: Session, user: User) -> list[Transfer]:
    """The user's transfers still waiting for a friend, newest first."""
    return list(
        session.scalars(
            sa.select(Transfer)
            .where(Transfer.from_user_id == user.id, Transfer.status == "pending", Transfer.expires_at > utcnow())
            .order_by(Transfer.id.desc())
        )
    )

