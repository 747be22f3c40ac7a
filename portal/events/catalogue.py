"""The kinds of events, what each means, and which ledger transaction makes which."""

from __future__ import annotations

# Every type an endpoint can ask for, with what it means to the people choosing them.
EVENT_TYPES: dict[str, str] = {
    "card.issued": "A gift card was issued or sold",
    "card.loaded": "A card was topped up",
    "card.redeemed": "A card paid for something",
    "card.reversed": "A transaction was undone",
    "card.adjusted": "An admin corrected a card's balance, or cancelled a card that held value",
    "card.expired": "A card expired; its balance went to breakage",
    "card.reinstated": "An expired card was reinstated",
    "card.transferred": "A friend claimed a card given to them",
    "card.frozen": "A card was frozen",
    "card.unfrozen": "A card was unfrozen",
    "card.cancelled": "A card was cancelled",
    "coupon.redeemed": "A coupon was applied at a checkout",
    "code.redeemed": "A customer redeemed a credit or feature code",
    "entitlement.granted": "A customer was given a feature (or more days of it): by a code or a gift subscription",
    "entitlement.expired": "A customer's feature ended",
    "wallet.credited": "Credit was added to a customer's wallet",
    "loops.earned": "A customer was awarded Loops",
    "loops.converted": "A customer turned Loops into a gift card",
    "gift.purchased": "A customer paid for a gift subscription",
    "gift.refunded": "A gift subscription's payment went back to the buyer",
    "gift.sent": "A gift subscription was sent",
    "gift.redeemed": "A gift subscription was redeemed",
    "order.paid": "A shop order's payment was confirmed and its cards issued",
    "order.refunded": "A shop order was refunded (what was left on its cards)",
    "hold.placed": "An amount on a card was reserved for a sale not yet complete",
    "hold.captured": "A hold was taken as a payment (all or part; the rest went back to the card)",
    "hold.released": "A hold was given back to the card",
    "hold.lapsed": "A hold ran out of time and went back to the card",
    "campaign.created": "A campaign was created",
    "campaign.updated": "A campaign's rules changed",
    "campaign.deleted": "A campaign was deleted",
}
# Sent only when its owner asks for it, to every endpoint whatever it chose.
TEST_EVENT = "webhook.test"

# The event each kind of ledger transaction writes (portal/models/ledger.py TRANSACTION_KINDS).
TRANSACTION_EVENTS: dict[str, str] = {
    "issue": "card.issued",
    "load": "card.loaded",
    "redeem": "card.redeemed",
    "reverse": "card.reversed",
    "transfer": "card.transferred",
    "expire": "card.expired",
    "reinstate": "card.reinstated",
    "adjust": "card.adjusted",
    "points_earn": "loops.earned",
    "points_convert": "loops.converted",
    "credit_code": "wallet.credited",
    "gift_purchase": "gift.purchased",
    "refund": "gift.refunded",
    "hold": "hold.placed",
    "capture": "hold.captured",
    "release": "hold.released",
    "lapse": "hold.lapsed",
}
