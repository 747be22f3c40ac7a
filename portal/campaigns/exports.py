"""CSV exports of a campaign's codes and uses, and of the coupon report, streamed a few thousand rows at a time.

Codes are masked unless the admin asks for full codes; that export is recorded in the audit
log (with the reason given) before a single code is decrypted.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.campaigns.reports import CouponImpact, uses_of
from portal.campaigns.rules import code_expiry
from portal.cards.codes import CodeVault
from portal.ledger import Actor, audit, required_reason
from portal.models import Account, Code, GiftCard
from portal.models.campaigns import Campaign, CampaignCode
from portal.money import format_minor

STREAM_ROWS = 2_000


def _when(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z") if moment else ""


def export_rows(session: Session, vault: CodeVault, campaign: Campaign, *, full: bool = False) -> Iterator[list[str]]:
    """The header, then one row per code in the order generated; full codes only with ``full``."""
    def shown(masked: str, ciphertext: bytes) -> str:
        return vault.decrypt(ciphertext) if full else masked

    if campaign.kind == "gift_card":
        yield ["code", "card_id", "balance", "currency", "status", "expires_at", "issued_at"]
        rows = session.execute(
            sa.select(Code.masked, Code.ciphertext, GiftCard.id, Account.balance, GiftCard.currency, GiftCard.status,
                      GiftCard.expires_at, Code.created_at)
            .select_from(CampaignCode)
            .join(Code, Code.id == CampaignCode.code_id)
            .join(GiftCard, GiftCard.id == CampaignCode.card_id)
            .join(Account, Account.id == GiftCard.account_id)
            .where(CampaignCode.campaign_id == campaign.id)
            .order_by(CampaignCode.id)
            .execution_options(yield_per=STREAM_ROWS)
        )
        for masked, ciphertext, card_id, balance, currency, status, expires_at, issued_at in rows:
            yield [shown(masked, ciphertext), str(card_id), format_minor(balance, currency), currency, status,
                   _when(expires_at), _when(issued_at)]
        return
    yield ["code", "uses", "expires_at", "issued_at"]
    rows = session.execute(
        sa.select(Code.masked, Code.ciphertext, CampaignCode.uses, Code.created_at)
        .select_from(CampaignCode)
        .join(Code, Code.id == CampaignCode.code_id)
        .where(CampaignCode.campaign_id == campaign.id)
        .order_by(CampaignCode.id)
        .execution_options(yield_per=STREAM_ROWS)
    )
    for masked, ciphertext, uses, issued_at in rows:
        yield [shown(masked, ciphertext), str(uses), _when(code_expiry(campaign, issued_at)), _when(issued_at)]


def record_full_export(session: Session, campaign: Campaign, *, actor: Actor, reason: str) -> None:
    """Audit an export of full codes. Raise ValidationError if the reason is blank."""
    reason = required_reason(reason)
    audit(session, actor, "campaign.codes_exported", f"campaign:{campaign.id}", reason, full_codes=True)
    session.flush()


def file_name(campaign: Campaign, *, full: bool) -> str:
    """A download name like ``campaign-12-codes.csv`` (``-full`` for full codes)."""
    return f"campaign-{campaign.id}-codes{'-full' if full else ''}.csv"


def _amount(minor: int | None, currency: str | None) -> str:
    return format_minor(minor, currency) if minor is not None and currency else ""


def use_rows(session: Session, campaign: Campaign) -> Iterator[list[str]]:
    """The header, then every use of the campaign's codes, newest first (as its page shows them)."""
    yield ["used_at", "who", "channel", "merchant", "code", "order_total", "discount", "currency", "reference"]
    for use in session.execute(uses_of(campaign.id).execution_options(yield_per=STREAM_ROWS)):
        yield [_when(use.at), use.who or "", use.channel, use.merchant or "", use.code,
               _amount(use.order_total, use.currency), _amount(use.discount, use.currency), use.currency or "",
               use.reference or ""]


def impact_rows(impacts: list[CouponImpact]) -> Iterator[list[str]]:
    """The coupon report as CSV: one row per campaign and currency."""
    yield ["campaign_id", "campaign", "currency", "uses", "order_value", "discount", "paid", "average_order",
           "discount_percent"]
    for i in impacts:
        yield [str(i.campaign_id), i.name, i.currency, str(i.uses), _amount(i.order_value, i.currency),
               _amount(i.discount, i.currency), _amount(i.paid, i.currency), _amount(i.average_order, i.currency),
               str(i.discount_rate)]
