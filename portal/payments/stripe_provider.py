"""The ``stripe`` payment provider: Checkout Sessions, webhooks checked by the library's verifier.

Our order's reference travels as the session's ``client_reference_id``; the session's id is the
payment reference. A webhook is trusted only if ``stripe.Webhook.construct_event`` accepts its
``Stripe-Signature`` with ``STRIPE_WEBHOOK_SECRET`` (which also refuses a stale timestamp).
"""

from __future__ import annotations

from collections.abc import Mapping

import stripe

from portal.payments import EXPIRED, FAILED, PAID, SETTLING, Checkout, InvalidWebhook, PaymentEvent

# A completed session is paid unless its payment method settles later (then an async event follows).
_OUTCOMES = {
    "checkout.session.completed": PAID,
    "checkout.session.async_payment_succeeded": PAID,
    "checkout.session.async_payment_failed": FAILED,
    "checkout.session.expired": EXPIRED,
}


class StripeProvider:
    name = "stripe"

    def __init__(self, *, secret_key: str, webhook_secret: str, http_client: stripe.HTTPClient | None = None):
        if not secret_key or not webhook_secret:
            raise RuntimeError("PAYMENT_PROVIDER=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET")
        self._client = stripe.StripeClient(secret_key, http_client=http_client, max_network_retries=2)
        self._webhook_secret = webhook_secret

    def create_checkout(self, *, order_reference: str, amount: int, currency: str, email: str,
                        description: str, success_url: str, cancel_url: str) -> Checkout:
        session = self._client.checkout.sessions.create(
            params={
                "mode": "payment",
                "client_reference_id": order_reference,
                "customer_email": email,
                "line_items": [{
                    "quantity": 1,
                    "price_data": {"currency": currency.lower(), "unit_amount": amount,
                                   "product_data": {"name": description}},
                }],
                "success_url": success_url,
                "cancel_url": cancel_url,
                "metadata": {"order": order_reference},
            },
            # Stripe's own idempotency: a retried create makes one session per order.
            options={"idempotency_key": f"checkout:{order_reference}"},
        )
        return Checkout(url=session.url, payment_reference=session.id)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        try:
            event = stripe.Webhook.construct_event(body, headers.get("Stripe-Signature", ""), self._webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as error:
            raise InvalidWebhook("The Stripe signature does not verify") from error
        outcome = _OUTCOMES.get(event.type)
        session = event.data.object
        if outcome is None or session.get("object") != "checkout.session":
            raise InvalidWebhook(f"Not a Checkout payment event: {event.type}")
        if event.type == "checkout.session.completed" and session.get("payment_status") != "paid":
            outcome = SETTLING  # a bank debit, say: wait for async_payment_succeeded
        return PaymentEvent(
            event_id=event.id, outcome=outcome, order_reference=session.get("client_reference_id") or "",
            payment_reference=session.id, amount=int(session.get("amount_total") or 0),
            currency=(session.get("currency") or "").upper(),
        )

    def refund(self, payment_reference: str, amount: int) -> str:
        session = self._client.checkout.sessions.retrieve(payment_reference)
        refund = self._client.refunds.create(
            params={"payment_intent": session.payment_intent, "amount": amount},
            options={"idempotency_key": f"refund:{payment_reference}:{amount}"},
        )
        return refund.id
