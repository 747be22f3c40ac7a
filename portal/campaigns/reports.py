"""The numbers that matter (DESIGN §3, admin overview): liability, issued / redeemed / breakage
per campaign and overall, redemptions per day, every use of a campaign's codes and what coupons did
to sales. All read from the ledger and the use rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from portal.models import Account, Code, Entry, GiftCard, Merchant, Transaction, User, utcnow
from portal.models.campaigns import Campaign, CampaignCode, CampaignUse
from portal.money import Money

# Transaction kinds that put value on a card; the rest is redemption, breakage or correction.
_FUNDING = ("issue", "load", "points_convert", "gift_purchase")


@dataclass
class Liability:
    """What Giftloop owes in one currency: card balances plus wallet credit."""

    currency: str
    cards: Money
    wallets: Money

    @property
    def total(self) -> Money:
        return self.cards + self.wallets


def liability(session: Session) -> list[Liability]:
    """Outstanding liability per currency, from the cached balances of cards and wallets."""
    sums: dict[str, dict[str, int]] = defaultdict(lambda: {"card": 0, "wallet": 0})
    rows = session.execute(
        sa.select(Account.currency, Account.kind, sa.func.coalesce(sa.func.sum(Account.balance), 0))
        .where(Account.kind.in_(("card", "wallet")))
        .group_by(Account.currency, Account.kind)
    )
    for currency, kind, total in rows:
        sums[currency][kind] = int(total)
    return [Liability(c, Money(v["card"], c), Money(v["wallet"], c)) for c, v in sorted(sums.items())]


@dataclass
class CardFlows:
    """Value that went through cards in one currency (for one campaign, or all cards)."""

    currency: str
    cards: int = 0
    issued: int = 0
    redeemed: int = 0
    breakage: int = 0
    adjusted: int = 0
    outstanding: int = 0

    def money(self, name: str) -> Money:
        return Money(getattr(self, name), self.currency)

    @property
    def redemption_rate(self) -> int:
        """Percent of the value issued that was spent."""
        return self.redeemed * 100 // self.issued if self.issued else 0

    @property
    def breakage_rate(self) -> int:
        return self.breakage * 100 // self.issued if self.issued else 0


def card_flows(session: Session, *, by_campaign: bool = False) -> dict[tuple[int | None, str], CardFlows]:
    """Issued, redeemed, breakage (expired or cancelled, net of reinstatements) and outstanding.

    Keyed by (campaign id, currency); with ``by_campaign`` False the campaign id is None and the
    figures cover every card. A reversal counts against the kind it reverses.
    """
    original = aliased(Transaction)
    breakage_tx = (
        sa.select(Entry.transaction_id)
        .join(Account, Account.id == Entry.account_id)
        .where(Account.key.like("system:breakage:%"))
    )
    effective = sa.func.coalesce(original.kind, Transaction.kind)
    bucket = sa.case(
        (Transaction.id.in_(breakage_tx), "breakage"),
        (effective == "redeem", "redeemed"),
        (effective.in_(_FUNDING), "issued"),
        else_="adjusted",
    )
    campaign_col = CampaignCode.campaign_id if by_campaign else sa.null()
    flows: dict[tuple[int | None, str], CardFlows] = {}

    def entry(campaign_id, currency) -> CardFlows:
        return flows.setdefault((campaign_id, currency), CardFlows(currency))

    query = (
        sa.select(campaign_col, Account.currency, bucket, sa.func.sum(Entry.amount))
        .select_from(Entry)
        .join(Account, Account.id == Entry.account_id)
        .join(Transaction, Transaction.id == Entry.transaction_id)
        .outerjoin(original, original.id == Transaction.reverses_id)
        .where(Account.kind == "card")
    )
    balances = (
        sa.select(campaign_col, Account.currency, sa.func.count(Account.id), sa.func.sum(Account.balance))
        .select_from(Account)
        .where(Account.kind == "card")
    )
    if by_campaign:
        def of_campaigns(select):
            return select.join(GiftCard, GiftCard.account_id == Account.id).join(
                CampaignCode, CampaignCode.card_id == GiftCard.id
            )

        query, balances = of_campaigns(query), of_campaigns(balances)
        query = query.group_by(CampaignCode.campaign_id, Account.currency, bucket)
        balances = balances.group_by(CampaignCode.campaign_id, Account.currency)
    else:
        query = query.group_by(Account.currency, bucket)
        balances = balances.group_by(Account.currency)
    for campaign_id, currency, kind, total in session.execute(query):
        flow = entry(campaign_id, currency)
        total = int(total or 0)
        # Money leaving a card is positive "redeemed" or "breakage".
        setattr(flow, kind, getattr(flow, kind) + (total if kind in ("issued", "adjusted") else -total))
    for campaign_id, currency, count, total in session.execute(balances):
        flow = entry(campaign_id, currency)
        flow.cards, flow.outstanding = int(count), int(total or 0)
    return flows


@dataclass
class CodeStats:
    """A code campaign's reach: codes made, uses counted, and the value given."""

    codes: int = 0
    used_codes: int = 0
    given: dict[str, int] = field(default_factory=dict)

    def given_money(self) -> list[Money]:
        return [Money(v, c) for c, v in sorted(self.given.items())]


def code_stats(session: Session) -> dict[int, CodeStats]:
    """Per campaign: codes generated, codes used at least once, and value given (credit or discounts)."""
    stats: dict[int, CodeStats] = defaultdict(CodeStats)
    rows = session.execute(
        sa.select(
            CampaignCode.campaign_id, sa.func.count(CampaignCode.id),
            sa.func.sum(sa.case((CampaignCode.uses > 0, 1), else_=0)),
        ).group_by(CampaignCode.campaign_id)
    )
    for campaign_id, codes, used in rows:
        stats[campaign_id].codes, stats[campaign_id].used_codes = int(codes), int(used or 0)
    given = session.execute(
        sa.select(CampaignUse.campaign_id, CampaignUse.currency, sa.func.sum(CampaignUse.discount))
        .where(CampaignUse.discount.is_not(None))
        .group_by(CampaignUse.campaign_id, CampaignUse.currency)
    )
    for campaign_id, currency, total in given:
        stats[campaign_id].given[currency] = int(total or 0)
    credits = session.execute(
        sa.select(Campaign.id, Campaign.currency, Campaign.value, Campaign.uses).where(Campaign.kind == "credit")
    )
    for campaign_id, currency, value, uses in credits:
        if uses:
            stats[campaign_id].given[currency] = value * uses
    return stats


@dataclass
class Day:
    day: date
    card_payments: int = 0
    code_uses: int = 0

    @property
    def total(self) -> int:
        return self.card_payments + self.code_uses


def _day(session: Session, column):
    """A timestamp's UTC day as "YYYY-MM-DD" in the database's own dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")
    return sa.func.strftime("%Y-%m-%d", column)


def redemptions_per_day(session: Session, *, days: int = 30, now: datetime | None = None) -> list[Day]:
    """Card payments and code uses for each of the last ``days`` UTC days, oldest first, gaps as 0."""
    now = now or utcnow()
    first = now.date() - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), now.tzinfo)
    out = {first + timedelta(days=i): Day(first + timedelta(days=i)) for i in range(days)}
    card_day = _day(session, Transaction.created_at)
    for text, count in session.execute(
        sa.select(card_day, sa.func.count(Transaction.id))
        .where(Transaction.kind == "redeem", Transaction.created_at >= since)
        .group_by(card_day)
    ):
        if (d := date.fromisoformat(text)) in out:
            out[d].card_payments = int(count)
    use_day = _day(session, CampaignUse.created_at)
    for text, count in session.execute(
        sa.select(use_day, sa.func.count(CampaignUse.id)).where(CampaignUse.created_at >= since).group_by(use_day)
    ):
        if (d := date.fromisoformat(text)) in out:
            out[d].code_uses = int(count)
    return list(out.values())


def uses_of(campaign_id: int) -> sa.Select:
    """Every use of the campaign's codes, newest first: when, who (the customer's account, else the
    address given at the till), through which channel and merchant, which code, the order's total,
    the discount and the caller's reference. Rows carry these names."""
    return (
        sa.select(
            CampaignUse.id, CampaignUse.created_at.label("at"),
            sa.func.coalesce(User.email, CampaignUse.email).label("who"), CampaignUse.channel,
            Merchant.name.label("merchant"), Code.masked.label("code"), CampaignUse.currency,
            CampaignUse.order_total, CampaignUse.discount, CampaignUse.reference,
        )
        .select_from(CampaignUse)
        .join(CampaignCode, CampaignCode.id == CampaignUse.campaign_code_id)
        .join(Code, Code.id == CampaignCode.code_id)
        .outerjoin(User, User.id == CampaignUse.user_id)
        .outerjoin(Merchant, Merchant.id == CampaignUse.merchant_id)
        .where(CampaignUse.campaign_id == campaign_id)
        .order_by(CampaignUse.created_at.desc(), CampaignUse.id.desc())
    )


@dataclass
class CouponImpact:
    """What a coupon campaign did to sales in one currency: its uses, the order value they touched
    and the discount given on it."""

    campaign_id: int
    name: str
    currency: str
    uses: int
    order_value: int
    discount: int

    def money(self, name: str) -> Money:
        return Money(getattr(self, name), self.currency)

    @property
    def paid(self) -> int:
        """What customers paid on those orders after the discount."""
        return self.order_value - self.discount

    @property
    def average_order(self) -> int:
        return self.order_value // self.uses if self.uses else 0

    @property
    def discount_rate(self) -> int:
        """Percent of the order value given away."""
        return self.discount * 100 // self.order_value if self.order_value else 0


def coupon_impact(session: Session, campaign_id: int | None = None) -> list[CouponImpact]:
    """Per coupon campaign (or only ``campaign_id``) and currency: uses, order value touched and discount
    given, the largest order value first. Deleted campaigns are left out."""
    order_value = sa.func.coalesce(sa.func.sum(CampaignUse.order_total), 0)
    query = (
        sa.select(
            Campaign.id, Campaign.name, CampaignUse.currency, sa.func.count(CampaignUse.id), order_value,
            sa.func.coalesce(sa.func.sum(CampaignUse.discount), 0),
        )
        .join(Campaign, Campaign.id == CampaignUse.campaign_id)
        .where(Campaign.kind == "coupon", Campaign.deleted_at.is_(None), CampaignUse.currency.is_not(None))
        .group_by(Campaign.id, Campaign.name, CampaignUse.currency)
        .order_by(order_value.desc(), Campaign.id)
    )
    if campaign_id is not None:
        query = query.where(Campaign.id == campaign_id)
    return [
        CouponImpact(cid, name, currency, int(uses), int(value), int(discount))
        for cid, name, currency, uses, value, discount in session.execute(query)
    ]
