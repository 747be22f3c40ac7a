"""Gift subscriptions (DESIGN §2): a customer buys a plan for a friend or as an open gift. No HTTP here.

``plans`` holds what is on sale and its price; ``codes`` the gift codes (hashed and encrypted
like every code); ``rules`` one check per rule of buying; ``purchase`` creates and pays;
``lifecycle`` sends, cancels, expires and removes unpaid gifts, refunding through the ledger;
``redemption`` starts the friend's subscription exactly once; ``queries`` lists them.
"""

from portal.gifts.codes import find_gift, full_code, looks_like_gift_code
from portal.gifts.lifecycle import cancel_gift, expire_due, remove_unpaid, send_gift
from portal.gifts.plans import ensure_plans, find_plan, plans_on_sale
from portal.gifts.purchase import create_gift, pay_gift, purchase_gift
from portal.gifts.redemption import GiftCheck, RedeemedGift, check_gift, redeem_gift, redeem_gift_code

__all__ = [
    "GiftCheck", "RedeemedGift", "cancel_gift", "check_gift", "create_gift", "ensure_plans", "expire_due",
    "find_gift", "find_plan", "full_code", "looks_like_gift_code", "pay_gift", "plans_on_sale", "purchase_gift",
    "redeem_gift", "redeem_gift_code", "remove_unpaid", "send_gift",
]
