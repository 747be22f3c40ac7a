"""Campaigns of codes that are not cards, and of promotional cards (DESIGN §2, campaigns).

A campaign holds its rules; its codes live in ``codes`` (hash and ciphertext, like card codes)
and are tied to it by ``campaign_codes``. Every use is a ``campaign_uses`` row, counted
atomically on the campaign (``uses``), on the code, and per customer (``campaign_customers``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, created_at, intpk
from portal.models.cards import Code, GiftCard
from portal.models.merchants import Merchant
from portal.models.networks import Network
from portal.models.users import User

CAMPAIGN_KINDS = ("gift_card", "credit", "feature", "coupon")
DISCOUNT_TYPES = ("percent", "fixed")
CODE_MODES = ("vanity", "random")
CHANNELS = ("web", "api")
JOB_STATUSES = ("queued", "running", "finished", "failed")
JOB_KINDS = ("generate", "email")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


campaign_merchants = sa.Table(
    "campaign_merchants",
    Base.metadata,
    sa.Column("campaign_id", sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("merchant_id", sa.ForeignKey("merchants.id"), primary_key=True),
)


class Campaign(Base):
    """A campaign's rules and its use counter; the codes hang off it."""

    __tablename__ = "campaigns"
    __table_args__ = (
        sa.CheckConstraint(_one_of("kind", CAMPAIGN_KINDS), name="kind_known"),
        sa.CheckConstraint(
            f"discount_type IS NULL OR {_one_of('discount_type', DISCOUNT_TYPES)}", name="discount_type_known"
        ),
        sa.CheckConstraint(_one_of("code_mode", CODE_MODES), name="code_mode_known"),
        sa.CheckConstraint("uses >= 0", name="uses_not_negative"),
        sa.CheckConstraint("max_uses IS NULL OR max_uses > 0", name="max_uses_positive"),
        # The counter is raised by a guarded UPDATE; this is the database's own last word on it.
        sa.CheckConstraint("max_uses IS NULL OR uses <= max_uses", name="uses_within_limit"),
        sa.CheckConstraint("uses_per_user IS NULL OR uses_per_user > 0", name="uses_per_user_positive"),
        sa.CheckConstraint("percent_bp IS NULL OR (percent_bp > 0 AND percent_bp <= 10000)", name="percent_in_range"),
        sa.CheckConstraint("value IS NULL OR value > 0", name="value_positive"),
        sa.CheckConstraint(
            "hours_from IS NULL OR (hours_from >= 0 AND hours_from < 1440 AND hours_until >= 0 "
            "AND hours_until <= 1440 AND hours_from != hours_until)", name="hours_in_day",
        ),
        sa.CheckConstraint("max_discount IS NULL OR max_discount > 0", name="max_discount_positive"),
        sa.CheckConstraint(
            "max_discount_per_customer IS NULL OR max_discount_per_customer > 0", name="max_discount_per_customer_positive"
        ),
    )

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(sa.String(120))
    kind: Mapped[str] = mapped_column(sa.String(12))
    # Money rules: the card value, the credit, the fixed discount (minor units of ``currency``).
    currency: Mapped[str | None] = mapped_column(sa.String(4))
    value: Mapped[int | None]
    discount_type: Mapped[str | None] = mapped_column(sa.String(8))
    # A percentage discount in hundredths of a percent (12.5 % is 1250), so no float holds it.
    percent_bp: Mapped[int | None]
    # Feature unlocks: the entitlement granted and for how long.
    feature: Mapped[str | None] = mapped_column(sa.String(40))
    feature_days: Mapped[int | None]
    # What the feature gives, in the customer's words ("Free delivery on every order"): shown on their wallet.
    feature_gives: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    # Expiry: a fixed moment, or a number of days from when a code or card was issued.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_days: Mapped[int | None]
    max_uses: Mapped[int | None]
    uses: Mapped[int] = mapped_column(default=0)
    uses_per_user: Mapped[int | None]
    min_order: Mapped[int | None]
    allowed_domains: Mapped[list] = mapped_column(sa.JSON, default=list)
    channels: Mapped[list] = mapped_column(sa.JSON, default=lambda: list(CHANNELS))
    # Coupon timeframe, in the merchant's time zone: weekdays (0 is Monday; empty: every day) and
    # hours as minutes from midnight, [from, until); until below from runs past midnight.
    weekdays: Mapped[list] = mapped_column(sa.JSON, default=list, server_default="[]")
    hours_from: Mapped[int | None]
    hours_until: Mapped[int | None]
    # Only a customer's first sale at the merchant (at a till) or first purchase in the shop.
    first_order_only: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Caps on the discount, minor units of ``currency``: per use, and in total per customer.
    max_discount: Mapped[int | None]
    max_discount_per_customer: Mapped[int | None]
    # The code pattern: one shared vanity code (SAVE20), or random codes with a prefix.
    code_mode: Mapped[str] = mapped_column(sa.String(8), default="random")
    code_prefix: Mapped[str] = mapped_column(sa.String(12), default="")
    code_length: Mapped[int] = mapped_column(default=12)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[created_at]
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # A gift card campaign's cards work only at this network's merchants.
    network_id: Mapped[int | None] = mapped_column(sa.ForeignKey("networks.id"))

    merchants: Mapped[list[Merchant]] = relationship(
        secondary=campaign_merchants, lazy="selectin", order_by=Merchant.name
    )
    network: Mapped[Network | None] = relationship()
    created_by: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<Campaign {self.id} {self.kind} {self.name!r}>"


class CampaignCode(Base):
    """One code of a campaign; for a gift card campaign, also the card it is the code of."""

    __tablename__ = "campaign_codes"
    __table_args__ = (sa.CheckConstraint("uses >= 0", name="uses_not_negative"),)

    id: Mapped[intpk]
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    code_id: Mapped[int] = mapped_column(sa.ForeignKey("codes.id"), unique=True)
    card_id: Mapped[int | None] = mapped_column(sa.ForeignKey("gift_cards.id"), unique=True)
    uses: Mapped[int] = mapped_column(default=0)

    campaign: Mapped[Campaign] = relationship()
    code: Mapped[Code] = relationship(lazy="joined")
    card: Mapped[GiftCard | None] = relationship()


class CampaignCustomer(Base):
    """How often one customer (by e-mail address) has used a campaign: the row its limit locks."""

    __tablename__ = "campaign_customers"
    __table_args__ = (
        sa.CheckConstraint("uses >= 0", name="uses_not_negative"),
        sa.CheckConstraint("discounted >= 0", name="discounted_not_negative"),
    )

    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), primary_key=True)
    uses: Mapped[int] = mapped_column(default=0)
    # The discount this customer has had from the campaign, minor units: its per-customer cap locks it.
    discounted: Mapped[int] = mapped_column(default=0, server_default="0")


class CampaignUse(Base):
    """One counted use of a campaign code: a coupon at a till, a credit code, a feature unlock."""

    __tablename__ = "campaign_uses"

    id: Mapped[intpk]
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    campaign_code_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign_codes.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    email: Mapped[str | None] = mapped_column(sa.String(254))
    merchant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("merchants.id"))
    channel: Mapped[str] = mapped_column(sa.String(8))
    currency: Mapped[str | None] = mapped_column(sa.String(4))
    order_total: Mapped[int | None]
    discount: Mapped[int | None]
    reference: Mapped[str | None] = mapped_column(sa.String(100))
    transaction_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ledger_transactions.id"))
    created_at: Mapped[created_at] = mapped_column(index=True)


class Entitlement(Base):
    """A feature a customer may use until ``ends_at`` (DESIGN §2, feature unlock)."""

    __tablename__ = "entitlements"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "feature", name="uq_entitlements_user_feature"),
        # The sweep's look-up: ended, not yet announced.
        sa.Index("ix_entitlements_expired_at_ends_at", "expired_at", "ends_at"),
    )

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    feature: Mapped[str] = mapped_column(sa.String(40))
    # What it gives, from the campaign that last granted it ("" when that said nothing, as a plan's grant).
    gives: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the sweep announced that it ended (entitlement.expired); None while it runs or until swept.
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The campaign that last granted or extended it.
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaigns.id"))
    created_at: Mapped[created_at]


class CampaignJob(Base):
    """A long admin job on a campaign (bulk generation, e-mailing a list), with the progress its page polls."""

    __tablename__ = "campaign_jobs"
    __table_args__ = (
        sa.CheckConstraint(_one_of("status", JOB_STATUSES), name="status_known"),
        sa.CheckConstraint(_one_of("kind", JOB_KINDS), name="kind_known"),
        sa.CheckConstraint("done >= 0 AND done <= requested", name="done_within_requested"),
    )

    id: Mapped[intpk]
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12), default="generate")
    requested: Mapped[int]
    done: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(sa.String(10), default="queued")
    error: Mapped[str] = mapped_column(sa.String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[created_at]
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    campaign: Mapped[Campaign] = relationship()

    @property
    def percent(self) -> int:
        return 100 if not self.requested else self.done * 100 // self.requested

    @property
    def running(self) -> bool:
        return self.status in ("queued", "running")


class CampaignRecipient(Base):
    """One address a campaign is e-mailed to, the code it was given, and its e-mail in the outbox."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "email", name="uq_campaign_recipients_campaign_email"),)

    id: Mapped[intpk]
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign_jobs.id"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    campaign_code_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaign_codes.id"))
    outbox_id: Mapped[int | None] = mapped_column(sa.ForeignKey("outbox.id"))
    created_at: Mapped[created_at]
