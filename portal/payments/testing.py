"""The ``test`` payment provider: the portal's own hosted payment page, so the shop runs offline.

The page (``/shop/pay/<order>``) lets the buyer pay, decline or abandon. Its outcome reaches the
shop the way a real provider's would: as a webhook signed with a secret (HMAC-SHA256 over the
timestamp and the body, as Stripe does), sent twice, because real providers do retry and the
shop must issue one card however often an event arrives.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping

from portal.payments import EXPIRED, FAILED, PAID, Checkout, InvalidWebhook, PaymentEvent

SIGNATURE_HEADER = "Giftloop-Test-Signature"
TOLERANCE_SECONDS = 5 * 60
_TYPES = {PAID: "payment.succeeded", FAILED: "payment.failed", EXPIRED: "payment.abandoned"}
_OUTCOMES = {kind: outcome for outcome, kind in _TYPES.items()}


class TestProvider:
    """Hosted page and signed webhooks, no network. ``secret`` signs the webhooks."""

    __test__ = False  # not a pytest test class
    name = "test"

    def __init__(self, *, secret: str, pay_url: str):
        # A key of its own, so a webhook signature reveals nothing that signs sessions.
        self._key = hmac.new(secret.encode(), b"giftloop test payments", hashlib.sha256).digest()
        self._pay_url = pay_url

    def create_checkout(self, *, order_reference: str, amount: int, currency: str, email: str,
                        description: str, success_url: str, cancel_url: str) -> Checkout:
        return Checkout(url=self._pay_url + order_reference, payment_reference=f"tp_{secrets.token_hex(12)}")

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The headers that make ``body`` a webhook from this provider."""
        timestamp = int(time.time()) if timestamp is None else timestamp
        digest = hmac.new(self._key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        return {SIGNATURE_HEADER: f"t={timestamp},v1={digest}", "Content-Type": "application/json"}

    def webhook(self, outcome: str, *, order_reference: str, payment_reference: str,
                amount: int, currency: str) -> tuple[bytes, dict[str, str]]:
        """The body and headers of the webhook reporting ``outcome`` for a payment."""
        body = json.dumps({
            "id": f"evt_{secrets.token_hex(12)}", "type": _TYPES[outcome],
            "data": {"order": order_reference, "payment": payment_reference, "amount": amount, "currency": currency},
        }).encode()
        return body, self.sign(body)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        self._verify(body, headers.get(SIGNATURE_HEADER, ""))
        try:
            event = json.loads(body)
            data = event["data"]
            return PaymentEvent(
                event_id=str(event["id"]), outcome=_OUTCOMES[event["type"]], order_reference=str(data["order"]),
                payment_reference=str(data["payment"]), amount=int(data["amount"]), currency=str(data["currency"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidWebhook("Not a payment event") from error

    def _verify(self, body: bytes, header: str) -> None:
        parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        try:
            timestamp = int(parts.get("t", ""))
        except ValueError:
            raise InvalidWebhook("No signature") from None
        if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
            raise InvalidWebhook("The signature is too old")  # a replayed capture
        expected = hmac.new(self._key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, parts.get("v1", "")):
            raise InvalidWebhook("The signature does not match")

    def refund(self, payment_reference: str, amount: int) -> str:
        return f"tr_{secrets.token_hex(12)}"
