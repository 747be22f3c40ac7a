"""Payment providers behind one interface: a hosted checkout, a verified webhook, a refund (issue 25).

No Flask here: a provider is built from settings (``provider_from``) and given the URLs it needs.
Which one runs is ``PAYMENT_PROVIDER`` (``test``, the embedded default, or ``stripe``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

PAYMENT_PROVIDERS = ("test", "stripe")
# What a webhook can tell us about a payment (SETTLING: accepted, the money follows later).
PAID, FAILED, EXPIRED, SETTLING = "paid", "failed", "expired", "settling"


class InvalidWebhook(Exception):
    """A webhook whose signature does not verify, is stale, or is not one we understand."""


@dataclass(frozen=True)
class Checkout:
    """Where to send the buyer to pay, and the provider's name for the payment."""

    url: str
    payment_reference: str


@dataclass(frozen=True)
class PaymentEvent:
    """A verified webhook: what happened to which order's payment."""

    event_id: str
    outcome: str  # PAID, FAILED, EXPIRED or SETTLING
    order_reference: str
    payment_reference: str
    amount: int
    currency: str


class PaymentProvider(Protocol):
    name: str

    def create_checkout(self, *, order_reference: str, amount: int, currency: str, email: str,
                        description: str, success_url: str, cancel_url: str) -> Checkout: ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        """Verify the signature and read the event; raise InvalidWebhook otherwise."""

    def refund(self, payment_reference: str, amount: int) -> str:
        """Refund ``amount`` minor units of a payment; returns the provider's refund id."""


def provider_from(config: Mapping) -> PaymentProvider:
    """The provider the settings name. Raise RuntimeError for an unknown one."""
    name = config.get("PAYMENT_PROVIDER") or "test"
    # Only the provider in use is imported: the stripe library is large, and tests never need it.
    if name == "test":
        from portal.payments.testing import TestProvider

        # Its page is the portal's own: a path on whichever host the buyer is on.
        return TestProvider(secret=config["SECRET_KEY"], pay_url="/shop/pay/")
    if name == "stripe":
        from portal.payments.stripe_provider import StripeProvider

        return StripeProvider(
            secret_key=config.get("STRIPE_SECRET_KEY") or "", webhook_secret=config.get("STRIPE_WEBHOOK_SECRET") or ""
        )
    raise RuntimeError(f"PAYMENT_PROVIDER is {' or '.join(PAYMENT_PROVIDERS)}, not {name!r}")
