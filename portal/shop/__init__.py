"""The public shop: buy a gift card for yourself or a friend, pay, and follow the order (issue 25).

Pages parse the form, call ``portal.orders`` and render. The provider's webhook lands on
``/shop/webhooks/<provider>``, which has no session and so no CSRF token: its signature is its proof.
"""

from flask import Blueprint, Flask, current_app

from portal.payments import PaymentProvider, provider_from

bp = Blueprint("shop", __name__)


def init_app(app: Flask) -> None:
    app.extensions["payments"] = provider_from(app.config)


def payments() -> PaymentProvider:
    return current_app.extensions["payments"]


from portal.shop import routes, testpay  # noqa: E402,F401
