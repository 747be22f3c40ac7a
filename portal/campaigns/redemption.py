"""A customer's "Redeem a code": credit codes fill the wallet, feature unlocks grant an entitlement.

Card codes (``GC-…``) are not campaign codes: the caller claims those as cards. Coupons are
used at a till, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from portal.campaigns import rules
from portal.campaigns.codes import find_campaign_code
from portal.campaigns.entitlements import feature_label, grant
from portal.campaigns.uses import count_use
from portal.cards.codes import CodeVault, is_card_code
from portal.errors import ValidationError
from portal.events import kinds as events
from portal.formatting import day
from portal.ledger import Actor, savepoint
from portal.models import Transaction, User, utcnow
from portal.models.campaigns import Campaign, CampaignUse
from portal.money import Money
from portal.notifications.outbox import queue_email
from portal.wallet import credit_wallet
from portal.cards.lookup import long_date

CARD_CODE = "That is a gift card code: add it to your wallet as a card"
COUPON = "That is a discount coupon: show it at the till when you pay"


@dataclass
class RedeemedCode:
    """What a redeemed code did, in plain values and one sentence for the customer."""

    kind: str  # "credit" or "feature"
    campaign: Campaign
    use: CampaignUse
    message: str
    credit: Money | None = None
    transaction: Transaction | None = None
    feature: str | None = None
    until: datetime | None = None


def redeem_code(
    session: Session, vault: CodeVault, user: User, text: str, *, channel: str = "web", now: datetime | None = None
) -> RedeemedCode:
    """Redeem a campaign code for a customer: credit to the wallet, or a feature unlocked.

    Raise ValidationError for a card code, a coupon, or a user who is not a customer; NotFound
    for an unknown code; CardExpired ("This code has expired"), AlreadyRedeemed ("This code was
    already used"), UsageLimitReached ("This code has been used the maximum number of times"),
    NotValidHere ("This code is not valid for your e-mail address", or the wrong channel).
    """
    now = now or utcnow()
    if isinstance(text, str) and is_card_code(text):
        raise ValidationError(CARD_CODE, field="code")
    code = find_campaign_code(session, vault, text)
    campaign = code.campaign
    rules.refuse_deleted(campaign)
    if campaign.kind == "coupon":
        raise ValidationError(COUPON, field="code")
    if not user.is_customer:
        raise ValidationError("Only customer accounts can redeem codes", field="code")
    rules.check_use(session, campaign, code, channel=channel, now=now, email=user.email, redeemer=user)
    nested = savepoint(session)
    try:
        use = count_use(session, campaign, code, channel=channel, email=user.email, user_id=user.id, now=now)
        if campaign.kind == "credit":
            result = _credit(session, user, campaign, use)
        else:
            result = _unlock(session, user, campaign, use, now)
        events.code_redeemed(session, use, code, kind=result.kind, feature=result.feature)
    except BaseException:
        nested.rollback()
        raise
    nested.commit()
    _tell(session, user, result)
    return result


def _tell(session: Session, user: User, result: RedeemedCode) -> None:
    """E-mail the customer what their code did, unless they turned receipts off; keyed by the use, so once."""
    if not user.receipts_by_email:
        return
    context = {"campaign": result.campaign.name, "code_kind": result.kind, "message": result.message,
               "at": f"{day(result.use.created_at)}, {result.use.created_at:%H:%M} UTC"}
    if result.kind == "feature":
        context.update(
            feature=feature_label(result.feature), gives=result.campaign.feature_gives, until=day(result.until)
        )
    queue_email(session, key=f"code_redeemed:{result.use.id}", to=user.email, kind="code_redeemed", context=context)


def _credit(session: Session, user: User, campaign: Campaign, use: CampaignUse) -> RedeemedCode:
    amount = Money(campaign.value, campaign.currency)
    transaction = credit_wallet(
        session, user, amount, actor=Actor(user_id=user.id), idempotency_key=f"campaign-use:{use.id}",
        reason=f"Credit code from {campaign.name}",
    )
    use.transaction_id, use.currency = transaction.id, amount.currency
    session.flush()
    return RedeemedCode(
        "credit", campaign, use, f"{amount.display()} was added to your wallet", credit=amount, transaction=transaction
    )


def _unlock(session: Session, user: User, campaign: Campaign, use: CampaignUse, now: datetime) -> RedeemedCode:
    entitlement = grant(
        session, user, campaign.feature, campaign.feature_days, campaign_id=campaign.id,
        gives=campaign.feature_gives or None, now=now,
    )
    label = feature_label(campaign.feature)
    return RedeemedCode(
        "feature", campaign, use, f"{label} is unlocked until {long_date(entitlement.ends_at)}",
        feature=campaign.feature, until=entitlement.ends_at,
    )
