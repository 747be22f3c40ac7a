"""One small function per event that is not a ledger transaction (those come from ``post``).

Each is called by the domain operation it describes, in its transaction, with the objects it
already holds.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.events.payloads import card_data, timestamp
from portal.events.record import record
from portal.models import GiftCard
from portal.models.campaigns import Campaign, CampaignCode, CampaignUse, Entitlement
from portal.money import format_minor


def _use(use: CampaignUse, code: CampaignCode) -> dict:
    return {
        "use_id": use.id, "campaign_id": use.campaign_id, "code_masked": code.code.masked,
        "channel": use.channel, "customer_id": use.user_id, "merchant_id": use.merchant_id,
    }


def coupon_redeemed(session: Session, use: CampaignUse, code: CampaignCode) -> int:
    """A coupon took ``use.discount`` off an order at a checkout."""
    data = {
        **_use(use, code),
        "order_total": format_minor(use.order_total, use.currency),
        "discount": format_minor(use.discount, use.currency),
        "currency": use.currency,
        "reference": use.reference,
    }
    return record(session, "coupon.redeemed", data, merchant_id=use.merchant_id)


def code_redeemed(session: Session, use: CampaignUse, code: CampaignCode, *, kind: str, feature: str | None = None) -> int:
    """A customer redeemed a credit code (its wallet.credited event carries the money) or a feature code."""
    data = {**_use(use, code), "kind": kind, "transaction_id": use.transaction_id, "feature": feature}
    return record(session, "code.redeemed", data, merchant_id=use.merchant_id)


def entitlement_changed(session: Session, type: str, entitlement: Entitlement) -> int:
    """entitlement.granted or .expired: a customer's feature began, grew longer, or ended."""
    data = {
        "entitlement_id": entitlement.id, "customer_id": entitlement.user_id, "feature": entitlement.feature,
        "gives": entitlement.gives, "starts_at": timestamp(entitlement.starts_at), "ends_at": timestamp(entitlement.ends_at),
        "campaign_id": entitlement.campaign_id,
    }
    return record(session, type, data)


def card_changed(session: Session, type: str, card: GiftCard, **detail) -> int:
    """A card's state changed without moving value: card.transferred, .frozen, .unfrozen, .cancelled."""
    data = {"card": card_data(card), "status": card.status, "customer_id": card.owner_id, **detail}
    return record(session, type, data, merchant_id=card.merchant_id)


def campaign_changed(session: Session, type: str, campaign: Campaign) -> int:
    """campaign.created, .updated or .deleted: what admins and their systems track of a campaign."""
    data = {
        "campaign_id": campaign.id, "name": campaign.name, "kind": campaign.kind,
        "max_uses": campaign.max_uses, "uses": campaign.uses,
        "expires_at": timestamp(campaign.expires_at),
    }
    return record(session, type, data)


def gift_changed(session: Session, type: str, gift) -> int:
    """gift.sent or gift.redeemed: a gift subscription (portal/gifts) moved on; its code masked, no addresses."""
    data = {
        "gift_id": gift.id, "plan": gift.plan.identifier, "status": gift.status, "code_masked": gift.code.masked,
        "buyer_id": gift.buyer_id, "customer_id": gift.redeemed_by_id,
        "subscription_duration_days": gift.subscription_duration_days,
    }
    return record(session, type, data)


def order_changed(session: Session, type: str, order, **detail) -> int:
    """order.paid or order.refunded: a shop order (portal/orders) moved on; no addresses, no codes."""
    data = {
        "order_id": order.id, "state": order.state, "total": format_minor(order.total, order.currency),
        "currency": order.currency, "cards": len(order.lines), "buyer_id": order.buyer_id,
        "card_ids": [line.card_id for line in order.lines], **detail,
    }
    return record(session, type, data)
