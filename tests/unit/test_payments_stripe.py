"""The Stripe adapter with the official library: requests answered by recorded responses in the
shapes Stripe documents, and webhooks signed by Stripe's scheme (HMAC-SHA256 of "t.payload")."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs

import pytest
import stripe

from portal.payments import EXPIRED, FAILED, PAID, SETTLING, InvalidWebhook
from portal.payments.stripe_provider import StripeProvider
from tests.conftest import submit
from tests.shop import FOR_A_FRIEND, all_cards, latest_order

WHSEC = "whsec_test_0123456789abcdef"
SESSION = {
    "id": "cs_test_a1b2c3", "object": "checkout.session", "amount_total": 2500, "currency": "usd",
    "client_reference_id": None, "customer_email": "guest@example.com", "mode": "payment",
    "payment_intent": "pi_3Abc", "payment_status": "unpaid", "status": "open",
    "url": "https://checkout.stripe.com/c/pay/cs_test_a1b2c3", "metadata": {},
}
REFUND = {"id": "re_3Abc", "object": "refund", "amount": 2500, "currency": "usd", "payment_intent": "pi_3Abc",
          "status": "succeeded"}


class RecordedStripe(stripe.HTTPClient):
    """Stripe's API as recorded: each path answers with its documented object; requests are kept."""

    name = "recorded"

    def __init__(self):
        super().__init__()
        self.requests: list[tuple[str, str, dict, dict]] = []

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        form = parse_qs(post_data or "")
        self.requests.append((method, url, form, dict(headers or {})))
        if url.endswith("/v1/checkout/sessions") and method == "post":
            body = {**SESSION, "client_reference_id": form["client_reference_id"][0],
                    "amount_total": int(form["line_items[0][price_data][unit_amount]"][0])}
        elif "/v1/checkout/sessions/" in url:
            body = SESSION
        elif url.endswith("/v1/refunds"):
            body = {**REFUND, "amount": int(form["amount"][0])}
        else:
            return json.dumps({"error": {"type": "invalid_request_error", "message": "Unrecorded"}}), 404, {}
        return json.dumps(body), 200, {"Request-Id": "req_recorded"}

    def close(self):
        pass


def stripe_event(kind: str, session: dict) -> bytes:
    return json.dumps({
        "id": "evt_1Abc", "object": "event", "api_version": "2025-06-30.basil", "created": int(time.time()),
        "type": kind, "data": {"object": session}, "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
    }).encode()


def signed(payload: bytes, secret: str = WHSEC, at: int | None = None) -> dict[str, str]:
    at = int(time.time()) if at is None else at
    signature = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={at},v1={signature}"}


@pytest.fixture
def recorded():
    return RecordedStripe()


@pytest.fixture
def provider(recorded):
    return StripeProvider(secret_key="sk_test_123", webhook_secret=WHSEC, http_client=recorded)


def test_a_checkout_session_is_created_for_the_order_with_stripes_idempotency(provider, recorded):
    checkout = provider.create_checkout(
        order_reference="ord_x", amount=2500, currency="USD", email="guest@example.com",
        description="Giftloop gift cards (1)", success_url="https://shop.test/o", cancel_url="https://shop.test/o",
    )
    assert checkout.url.startswith("https://checkout.stripe.com/") and checkout.payment_reference == "cs_test_a1b2c3"
    method, url, form, headers = recorded.requests[0]
    assert (method, url) == ("post", "https://api.stripe.com/v1/checkout/sessions")
    assert form["mode"] == ["payment"] and form["client_reference_id"] == ["ord_x"]
    assert form["line_items[0][price_data][currency]"] == ["usd"]
    assert headers["Idempotency-Key"] == "checkout:ord_x"
    assert headers["Authorization"] == "Bearer sk_test_123"


@pytest.mark.parametrize("kind, status, outcome", [
    ("checkout.session.completed", "paid", PAID),
    ("checkout.session.completed", "unpaid", SETTLING),
    ("checkout.session.async_payment_succeeded", "paid", PAID),
    ("checkout.session.async_payment_failed", "unpaid", FAILED),
    ("checkout.session.expired", "unpaid", EXPIRED),
])
def test_signed_events_are_read(provider, kind, status, outcome):
    payload = stripe_event(kind, {**SESSION, "client_reference_id": "ord_x", "payment_status": status})
    event = provider.parse_webhook(payload, signed(payload))
    assert (event.outcome, event.order_reference, event.payment_reference, event.amount, event.currency) == (
        outcome, "ord_x", "cs_test_a1b2c3", 2500, "USD")


def test_a_forged_stale_or_unsigned_event_is_refused(provider):
    payload = stripe_event("checkout.session.completed", {**SESSION, "payment_status": "paid"})
    with pytest.raises(InvalidWebhook):
        provider.parse_webhook(payload, signed(payload, secret="whsec_someone_else"))
    with pytest.raises(InvalidWebhook):
        provider.parse_webhook(payload, signed(payload, at=int(time.time()) - 3600))
    with pytest.raises(InvalidWebhook):
        provider.parse_webhook(payload, {})
    with pytest.raises(InvalidWebhook):
        provider.parse_webhook(payload.replace(b"2500", b"9999"), signed(payload))


def test_a_refund_names_the_sessions_payment_intent(provider, recorded):
    assert provider.refund("cs_test_a1b2c3", 1500) == "re_3Abc"
    _, url, form, _ = recorded.requests[-1]
    assert url.endswith("/v1/refunds") and form["payment_intent"] == ["pi_3Abc"] and form["amount"] == ["1500"]


def test_the_shop_with_stripe_issues_the_card_on_the_signed_completed_event(app, client, people, provider):
    app.extensions["payments"] = provider
    placed = submit(client, "/shop", FOR_A_FRIEND, page="/shop")
    assert placed.status_code == 303 and placed.headers["Location"].startswith("https://checkout.stripe.com/")
    order = latest_order(app)
    assert order.provider == "stripe" and order.payment_reference == "cs_test_a1b2c3"
    assert client.get(f"/shop/pay/{order.reference}").status_code == 404  # no pretend page with Stripe
    session = {**SESSION, "client_reference_id": order.reference, "payment_status": "paid", "status": "complete"}
    payload = stripe_event("checkout.session.completed", session)
    assert client.post("/shop/webhooks/stripe", data=payload, headers=signed(payload)).get_json() == {"received": "issued"}
    assert client.post("/shop/webhooks/stripe", data=payload, headers=signed(payload)).get_json() == {"received": "already"}
    assert len(all_cards(app)) == 1
