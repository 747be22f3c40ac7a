"""Campaigns: codes that are not cards, and promotional cards in bulk (DESIGN §2). No HTTP here.

Rules live in ``rules`` (one function per rule, shared by pages, API and jobs), a coupon's
timeframe and "first order only" in ``conditions``; codes in
``codes``; counting uses atomically in ``uses``; then one module per kind of use: ``coupons``
(a till's discount), ``redemption`` (a customer's credit code or feature unlock, through
``entitlements``). ``generation`` inserts codes and cards a batch at a time; ``jobs`` runs it
in the background; ``exports`` and ``reports`` read it all back.
"""

from portal.campaigns.codes import find_campaign_code
from portal.campaigns.coupons import CouponQuote, CouponUse, redeem_coupon, validate_coupon
from portal.campaigns.definitions import (
    CampaignInvalid, CampaignSpec, create_campaign, delete_campaign, read_spec, update_campaign,
)
from portal.campaigns.entitlements import active_entitlements, grant, has_feature
from portal.campaigns.generation import generate_batch, request_generation
from portal.campaigns.redemption import RedeemedCode, redeem_code

__all__ = [
    "CampaignInvalid", "CampaignSpec", "CouponQuote", "CouponUse", "RedeemedCode", "active_entitlements",
    "create_campaign", "delete_campaign", "find_campaign_code", "generate_batch", "grant", "has_feature",
    "read_spec", "redeem_code", "redeem_coupon", "request_generation", "update_campaign", "validate_coupon",
]
