"""Webhook endpoints on the till and admin pages (issue 11): a secret shown once, signed events
sent to a real HTTP receiver, a delivery log with "Send again" and "Send a test event", a
disabled endpoint with its notice, and URLs that would reach our own network refused."""

from __future__ import annotations

import json
import re
import socket

import pytest
import sqlalchemy as sa

from portal.errors import ValidationError
from portal.events import endpoints
from portal.events.signing import HEADER, SignatureError, sign, verify
from portal.events.transport import check_url, post
from portal.extensions import db
from portal.ledger import Actor
from portal.models import Merchant, OutboxMessage, User, WebhookDelivery, WebhookEndpoint, utcnow
from portal.services import services
from tests.conftest import submit
from tests.factories import redeem_at_cafe
from tests.reads import rows

# Deliveries go out inline after the commit (no Redis), to receivers on 127.0.0.1.
pytestmark = pytest.mark.app_config(WEBHOOK_ALLOW_PRIVATE_URLS=True, WEBHOOK_TIMEOUT_SECONDS=2)


def staff_in(client, auth, who="staff@example.com"):
    auth.login(who)
    return client


def add_endpoint(client, base: str, url: str, *types: str):
    return submit(client, f"{base}/webhooks", {"url": url, "event_types": list(types)})


def secret_of(response) -> str:
    match = re.search(r'value="(whsec_[^"]+)"', response.get_data(as_text=True))
    assert match, "no secret shown"
    return match.group(1)


# --- Adding an endpoint -----------------------------------------------------------------------


def test_staff_add_an_endpoint_and_see_its_secret_once(app, client, auth, people, receiver):
    hook = receiver()
    staff_in(client, auth)
    made = add_endpoint(client, "/till", hook.url, "card.redeemed", "card.loaded")
    assert made.status_code == 201
    secret = secret_of(made)
    (endpoint,) = rows(app, WebhookEndpoint)
    assert endpoint.event_types == ["card.loaded", "card.redeemed"] and endpoint.status == "enabled"
    assert secret.encode() not in endpoint.secret_ciphertext  # stored encrypted
    listing = client.get("/till/webhooks").get_data(as_text=True)
    detail = client.get(f"/till/webhooks/{endpoint.id}").get_data(as_text=True)
    assert hook.url in listing and secret not in listing and secret not in detail


@pytest.mark.parametrize("url, types, message", [
    ("", ["card.redeemed"], "Give the URL that should receive the events"),
    ("ftp://pos.example.com/x", ["card.redeemed"], "Give a full http:// or https:// URL"),
    ("https://user:pw@pos.example.com/x", ["card.redeemed"], "Leave user names and passwords out of the URL"),
    ("https://pos.example.com/x", [], "Choose at least one kind of event to send"),
    ("https://pos.example.com/x", ["card.painted"], "There is no event type called card.painted"),
    ("https://0x7f000001/x", ["card.redeemed"], "Write an IP address as four numbers from 0 to 255 with dots"),
])
def test_a_bad_endpoint_is_refused_with_its_message_and_nothing_is_added(app, client, auth, people, url, types, message):
    staff_in(client, auth)
    response = add_endpoint(client, "/till", url, *types)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert rows(app, WebhookEndpoint) == []


def test_production_settings_refuse_http_and_our_own_network():
    """Without WEBHOOK_ALLOW_PRIVATE_URLS only https to a public host is taken (SSRF)."""
    for url in ("http://pos.example.com/x", "https://127.0.0.1/x", "https://localhost/x", "https://10.1.2.3/x",
                "https://[::1]/x", "https://169.254.169.254/latest/meta-data"):
        with pytest.raises(ValidationError):
            check_url(url, allow_private=False)
    assert check_url(" https://pos.example.com/giftloop ", allow_private=False) == "https://pos.example.com/giftloop"
    with pytest.raises(OSError, match="private address"):
        post("https://localhost:9/x", b"{}", {}, timeout=1, allow_private=False)



SPECIAL_ADDRESSES = [
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::808:808",  # NAT64, also around a public address
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2002:7f00:1::1", "2002:808:808::1",  # 6to4
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "::ffff:127.0.0.1", "::ffff:8.8.8.8", "::127.0.0.1",  # IPv4-mapped, IPv4-compatible
    "100::1", "5f00::1", "3fff::1", "2001:db8::1", "fc00::1", "fe80::1", "ff0e::1",
    "100.64.0.1", "192.0.0.9", "192.88.99.1", "198.18.0.1", "224.0.0.1", "240.0.0.1", "255.255.255.255",
]


@pytest.mark.parametrize("address", SPECIAL_ADDRESSES)
def test_special_purpose_addresses_are_refused_when_added_and_when_delivering(monkeypatch, address):
    """Is every special-purpose address refused, as the URL's host and as what a name resolves to
    at delivery (a name pointed at one after the endpoint was added: DNS rebinding)?"""
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(ValidationError, match="Events can only be sent to a public internet address"):
        check_url(f"https://{host}/x", allow_private=False)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    monkeypatch.setattr(
        socket, "getaddrinfo",
        lambda *args, **kwargs: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443)),
                                 (family, socket.SOCK_STREAM, 6, "", (address, 443))],
    )
    assert check_url("https://rebound.example.com/x", allow_private=False)
    with pytest.raises(OSError, match="private address"):
        post("https://rebound.example.com/x", b"{}", {}, timeout=1, allow_private=False)


@pytest.mark.parametrize(
    "host", ["127.1", "0x7f000001", "2130706433", "017700000001", "0x7f.0.0.1", "pos.0x7f", "10.1"]
)
def test_numeric_spellings_of_a_host_are_refused(host):
    """Is an address written as one number, in hex or octal, or short, refused, for a development receiver too?"""
    for allow_private in (False, True):
        with pytest.raises(ValidationError, match="Write an IP address as four numbers from 0 to 255 with dots"):
            check_url(f"https://{host}/x", allow_private=allow_private)
    with pytest.raises(ValidationError, match="public internet address"):
        check_url("https://127.0.0.1./x", allow_private=False)


def test_public_addresses_and_development_receivers_are_still_taken():
    """Are public addresses taken, and local receivers too with WEBHOOK_ALLOW_PRIVATE_URLS?"""
    for url in ("https://93.184.216.34/x", "https://[2606:2800:220:1::1946]/x", "https://pos.example.com/x"):
        assert check_url(url, allow_private=False) == url
    for url in ("http://127.0.0.1:8000/x", "http://[::1]:8000/x", "http://localhost:8000/x", "http://10.1.2.3/x"):
        assert check_url(url, allow_private=True) == url


# --- Delivering -------------------------------------------------------------------------------


def test_a_redemption_is_posted_signed_and_logged_as_delivered(app, client, auth, people, receiver):
    hook = receiver()
    staff_in(client, auth)
    secret = secret_of(add_endpoint(client, "/till", hook.url, "card.redeemed"))
    code = redeem_at_cafe(app)
    ((headers, body),) = hook.requests  # card.issued was not chosen
    verify(secret, headers[HEADER], body)
    event = json.loads(body)
    assert event["type"] == "card.redeemed" and event["data"]["amount"] == "-3.00"
    assert code not in body.decode()
    (delivery,) = rows(app, WebhookDelivery)
    assert (delivery.status, delivery.response_status, delivery.attempts) == ("delivered", 200, 1)
    page = client.get(f"/till/webhooks/{delivery.endpoint_id}").get_data(as_text=True)
    assert "card.redeemed" in page and "Delivered" in page and "HTTP 200" in page


def test_another_merchants_endpoint_hears_nothing_and_cannot_be_seen(app, client, auth, people, receiver):
    ours, admins = receiver(), receiver()
    with app.app_context():
        nook = Merchant(slug="book-nook", name="The Book Nook")
        db.session.add(nook)
        db.session.flush()
        admin = db.session.scalar(sa.select(User).where(User.email == "admin@example.com"))
        other = endpoints.create_endpoint(
            db.session, services().vault, url=ours.url, event_types=["card.redeemed"], merchant_id=nook.id,
            actor=Actor(user_id=admin.id), allow_private=True,
        ).endpoint
        endpoints.create_endpoint(
            db.session, services().vault, url=admins.url, event_types=["card.issued", "card.redeemed"],
            merchant_id=None, actor=Actor(user_id=admin.id), allow_private=True,
        )
        db.session.commit()
        other_id = other.id
    redeem_at_cafe(app)
    assert ours.requests == []
    assert [b["type"] for b in admins.bodies()] == ["card.issued", "card.redeemed"]
    staff_in(client, auth)
    assert client.get(f"/till/webhooks/{other_id}").status_code == 404


def test_a_test_event_and_send_again_are_new_deliveries_in_the_log(app, client, auth, people, receiver):
    hook = receiver()
    staff_in(client, auth)
    secret = secret_of(add_endpoint(client, "/till", hook.url, "card.redeemed"))
    redeem_at_cafe(app)
    (endpoint,) = rows(app, WebhookEndpoint)
    page = f"/till/webhooks/{endpoint.id}"
    submit(client, f"{page}/test", {}, page=page)
    (first, test) = rows(app, WebhookDelivery)
    submit(client, f"{page}/deliveries/{first.id}/resend", {}, page=page)
    assert [b["type"] for b in hook.bodies()] == ["card.redeemed", "webhook.test", "card.redeemed"]
    assert hook.bodies()[0]["id"] == hook.bodies()[2]["id"]  # the same event, for the receiver to de-duplicate
    for headers, body in hook.requests:
        verify(secret, headers[HEADER], body)
    assert [d.status for d in rows(app, WebhookDelivery)] == ["delivered"] * 3
    assert client.get(page).get_data(as_text=True).count(">Send again</button>") == 2  # a test event has none


def test_a_failure_for_good_disables_the_endpoint_tells_its_owner_and_it_can_be_enabled_again(
    app, client, auth, people, receiver
):
    hook = receiver(500)
    staff_in(client, auth)
    add_endpoint(client, "/till", hook.url, "card.redeemed")
    redeem_at_cafe(app)
    (delivery,) = rows(app, WebhookDelivery)
    assert (delivery.status, delivery.response_status) == ("failed", 500)
    assert "receiver broke" in delivery.last_error
    (endpoint,) = rows(app, WebhookEndpoint)
    assert endpoint.status == "enabled"  # inline there was no day of retries: one failure disables nothing
    with app.app_context():
        assert endpoints.disable_after_failures(db.session, endpoint.id, 8, delivery.created_at, "HTTP 500")
        db.session.commit()
    page = f"/till/webhooks/{endpoint.id}"
    shown = client.get(page).get_data(as_text=True)
    assert "This endpoint is disabled" in shown and "after 8 failed attempts" in shown
    (mail,) = [m for m in rows(app, OutboxMessage) if m.kind == "webhook_disabled"]
    assert mail.recipient == "staff@example.com" and mail.context["url"] == hook.url
    with app.app_context():
        from portal.notifications.rendering import render

        text = render(db.session, db.session.get(OutboxMessage, mail.id)).text
    assert hook.url in text and f"/till/webhooks/{endpoint.id}" in text and "HTTP 500" in text
    resend = submit(client, f"{page}/deliveries/{delivery.id}/resend", {}, page=page, follow_redirects=True)
    assert "Enable the endpoint again before sending events to it" in resend.get_data(as_text=True)
    assert len(rows(app, WebhookDelivery)) == 1
    hook.script = [200]
    submit(client, f"{page}/enable", {}, page=page)
    redeem_at_cafe(app)
    assert rows(app, WebhookEndpoint)[0].status == "enabled"
    assert rows(app, WebhookDelivery)[-1].status == "delivered"


def test_an_endpoint_that_took_a_later_event_is_not_disabled(app, people, receiver):
    hook = receiver(500, 200)
    with app.app_context():
        admin = db.session.scalar(sa.select(User).where(User.email == "admin@example.com"))
        endpoints.create_endpoint(db.session, services().vault, url=hook.url, event_types=["card.redeemed"],
                                  merchant_id=None, actor=Actor(user_id=admin.id), allow_private=True)
        db.session.commit()
    redeem_at_cafe(app)
    redeem_at_cafe(app)
    failed, delivered = rows(app, WebhookDelivery)
    assert (failed.status, delivered.status) == ("failed", "delivered")
    with app.app_context():
        assert not endpoints.disable_after_failures(db.session, failed.endpoint_id, 8, failed.created_at, "HTTP 500")
    assert rows(app, WebhookEndpoint)[0].status == "enabled"


def test_admins_manage_their_own_endpoints_and_delete_them(app, client, auth, people, receiver):
    hook = receiver()
    auth.login("admin@example.com")
    assert add_endpoint(client, "/admin", hook.url, "campaign.created").status_code == 201
    (endpoint,) = rows(app, WebhookEndpoint)
    assert endpoint.merchant_id is None
    page = f"/admin/webhooks/{endpoint.id}"
    submit(client, f"{page}/test", {}, page=page)
    gone = submit(client, f"{page}/delete", {}, page=page)
    assert gone.status_code == 303 and rows(app, WebhookEndpoint) == [] and rows(app, WebhookDelivery) == []
    assert client.get(page).status_code == 404


# --- Signatures -------------------------------------------------------------------------------


def test_a_signature_verifies_only_with_its_secret_body_and_time():
    body, now = b'{"id":"evt_1"}', 1_800_000_000
    header = sign("whsec_a", body, now)
    assert verify("whsec_a", header, body, now=now + 10) == now
    for secret, header_, body_, at in (
        ("whsec_b", header, body, now), ("whsec_a", header, body + b" ", now),
        ("whsec_a", header, body, now + 301), ("whsec_a", "v1=abc", body, now), ("whsec_a", None, body, now),
    ):
        with pytest.raises(SignatureError):
            verify(secret, header_, body_, now=at)


def test_the_worker_gives_up_on_a_disabled_endpoints_events_but_not_its_test_events(app, people, receiver):
    from portal.events.sending import deliver

    hook = receiver()
    with app.app_context():
        admin = db.session.scalar(sa.select(User).where(User.email == "admin@example.com"))
        endpoint = endpoints.create_endpoint(db.session, services().vault, url=hook.url, event_types=["card.issued"],
                                             merchant_id=None, actor=Actor(user_id=admin.id), allow_private=True).endpoint
        endpoint.status, endpoint.disabled_at = "disabled", utcnow()
        event = WebhookDelivery(endpoint_id=endpoint.id, event_id=None, status="pending", attempts=0)
        db.session.add(event)
        db.session.commit()
        assert deliver(event.id, final=False) == "delivered"  # a test event (no event row) still goes
    assert [b["type"] for b in hook.bodies()] == ["webhook.test"]
