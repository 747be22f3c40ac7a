"""The public shop: buy a gift card for yourself or a friend, pay, and follow the order (issue 25).

Pages parse the form, call ``portal.orders`` and render. The provider's webhook lands on
``/shop/webhooks/<provider>``, which has no session and so no CSRF token: its signature is its proof.
"""

from flask import Blueprint, Flask, current_app, request

from portal.errors import RateLimited
from portal.extensions import db
from portal.payments import PaymentProvider, provider_from
from portal.throttle import DatabaseCounters, LocalCounters, Throttle

bp = Blueprint("shop", __name__)

# Orders placed per buyer (account or e-mail) and per client address in a window: card testing
# and mail bombing through the gift form both need many orders.
PURCHASE_LIMIT, PURCHASE_IP_LIMIT, PURCHASE_WINDOW_SECONDS = 10, 30, 60 * 60


def init_app(app: Flask) -> None:
    app.extensions["payments"] = provider_from(app.config)
    client = app.extensions["giftloop"].redis
    app.extensions["purchase_throttle"] = Throttle(
        "purchase", app.config.get("SHOP_PURCHASE_LIMIT", PURCHASE_LIMIT),
        app.config.get("SHOP_PURCHASE_WINDOW_SECONDS", PURCHASE_WINDOW_SECONDS), client,
        fallback=DatabaseCounters(lambda: db.engine) if client is not None else LocalCounters(),
        per_kind={"ip": app.config.get("SHOP_PURCHASE_IP_LIMIT", PURCHASE_IP_LIMIT)},
    )


def payments() -> PaymentProvider:
    return current_app.extensions["payments"]


def purchase_throttle() -> Throttle:
    return current_app.extensions["purchase_throttle"]


def shop_currency() -> str:
    """The currency the shop sells in (``SHOP_CURRENCY``)."""
    return current_app.config["SHOP_CURRENCY"]


def buyer_key(customer, email: str) -> str:
    """Whose orders the purchase limit counts: a customer's account, or the address a guest gave."""
    return f"user:{customer.id}" if customer is not None else f"email:{email.strip().lower()[:254]}"


def count_purchase(buyer_key: str):
    """Count one order attempt by this buyer and the client's address; returns the attempt (whose
    ``succeeded()`` takes back a refused form: no order, no count). Raise RateLimited past a limit."""
    attempt = purchase_throttle().attempt(f"ip:{request.remote_addr}", buyer_key)
    if attempt.wait:
        minutes = max(1, round(attempt.wait / 60))
        raise RateLimited(
            f"Too many orders. Please wait {minutes} minute{'s' if minutes > 1 else ''} and try again.",
            retry_after=attempt.wait,
        )
    return attempt


from portal.shop import bulk, routes, testpay  # noqa: E402,F401
