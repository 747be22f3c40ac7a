"""What the customer pages show, read in as few queries as the page needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.loyalty.tiers import Tier, next_tier, progress, tier_for
from portal.models import Account, GiftCard, User, utcnow

STATUS_ORDER = {"active": 0, "frozen": 1, "expired": 2, "cancelled": 3}


@dataclass
class CardLine:
    card: GiftCard
    balance: int
    days_left: int


@dataclass
class Dashboard:
    wallets: list[Account]
    loops: int
    tier: Tier
    next_tier: Tier | None
    loops_to_next: int
    percent_to_next: int
    cards: list[CardLine] = field(default_factory=list)


def _days_until(moment: datetime, now: datetime) -> int:
    return max(0, (moment - now).days)


def dashboard_for(session: Session, user: User) -> Dashboard:
    """Wallet credit, Loops and tier, and cards with the most urgent first."""
    accounts = session.scalars(
        sa.select(Account).where(Account.owner_id == user.id, Account.kind.in_(("wallet", "loops")))
    ).all()
    wallets = sorted((a for a in accounts if a.kind == "wallet"), key=lambda a: a.currency)
    loops = sum(a.balance for a in accounts if a.kind == "loops")
    now = utcnow()
    cards = session.scalars(sa.select(GiftCard).where(GiftCard.owner_id == user.id)).all()
    lines = [CardLine(card, card.account.balance, _days_until(card.expires_at, now)) for card in cards]
    # Usable cards first, and among them the one that expires soonest.
    lines.sort(key=lambda line: (STATUS_ORDER[line.card.status], line.card.expires_at))
    to_next, percent = progress(user.lifetime_loops)
    return Dashboard(
        wallets=wallets,
        loops=loops,
        tier=tier_for(user.lifetime_loops),
        next_tier=next_tier(user.lifetime_loops),
        loops_to_next=to_next,
        percent_to_next=percent,
        cards=lines,
    )
