"""Events and webhooks through the real parts (issue 11): PostgreSQL, Redis, RQ jobs, a real HTTP
receiver on a free port, and gunicorn for concurrent redemptions while a program pulls events."""

from __future__ import annotations

import json
import threading

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.auth.users import create_user
from portal.cards import operations
from portal.events import record
from portal.events.ordering import assign_positions, events_after
from portal.events.signing import HEADER, verify
from portal.extensions import db
from portal.ledger import Actor
from portal.merchants import create_merchant
from portal.models import OutboxMessage, Transaction, WebhookDelivery, WebhookEndpoint
from portal.money import Money
from portal.services import services
from portal.tokens import create_token
from tests.conftest import PASSWORD, make_app, submit
from tests.factories import redeem_at_cafe
from tests.processes import endpoint_for_cafe, run_jobs
from tests.reads import rows

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


# --- Delivery ---------------------------------------------------------------------------------


def test_a_redemption_delivers_one_signed_event_whose_signature_verifies(hooks_app, receiver):
    hook = receiver(200)
    _, secret = endpoint_for_cafe(hooks_app, hook.url, "card.redeemed")
    code = redeem_at_cafe(hooks_app)
    run_jobs(hooks_app)
    ((headers, body),) = hook.requests
    verify(secret, headers[HEADER], body)
    event = json.loads(body)
    assert event["type"] == "card.redeemed" and event["data"]["amount"] == "-3.00"
    assert event["data"]["card"]["code_masked"].endswith(code[-6:]) and code not in body.decode()
    (delivery,) = rows(hooks_app, WebhookDelivery)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 200)
    run_jobs(hooks_app)  # nothing left to send: still one request
    assert len(hook.requests) == 1


def test_a_receiver_that_answers_500_three_times_gets_the_event_on_the_fourth_try(hooks_app, receiver):
    hook = receiver(500, 500, 500, 200)
    _, secret = endpoint_for_cafe(hooks_app, hook.url, "card.redeemed")
    redeem_at_cafe(hooks_app)
    run_jobs(hooks_app)
    assert len(hook.requests) == 4
    assert len({json.loads(body)["id"] for _, body in hook.requests}) == 1  # the same event each time
    for headers, body in hook.requests:
        verify(secret, headers[HEADER], body)
    (delivery,) = rows(hooks_app, WebhookDelivery)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 4, 200)
    assert rows(hooks_app, WebhookEndpoint)[0].status == "enabled"


def test_a_receiver_that_never_answers_ends_disabled_and_its_owner_is_told(hooks_app, receiver):
    hook = receiver("hang")
    endpoint_id, _ = endpoint_for_cafe(hooks_app, hook.url, "card.redeemed")
    hooks_app.config["WEBHOOK_RETRY_INTERVALS"] = [0, 0]  # three tries in all
    redeem_at_cafe(hooks_app)
    run_jobs(hooks_app)
    assert len(hook.requests) == 3
    (delivery,) = rows(hooks_app, WebhookDelivery)
    assert (delivery.status, delivery.attempts) == ("failed", 3) and "timed out" in delivery.last_error
    (endpoint,) = rows(hooks_app, WebhookEndpoint)
    assert endpoint.status == "disabled" and "after 3 failed attempts" in endpoint.disabled_reason
    (mail,) = [m for m in rows(hooks_app, OutboxMessage) if m.kind == "webhook_disabled"]
    assert mail.recipient == "staff@example.com" and mail.context["url"] == hook.url
    client = hooks_app.test_client()
    submit(client, "/signin", {"email": "staff@example.com", "password": PASSWORD})
    page = client.get(f"/till/webhooks/{endpoint_id}").get_data(as_text=True)
    assert "This endpoint is disabled" in page and "Enable again" in page
    redeem_at_cafe(hooks_app)  # a disabled endpoint is not sent new events
    assert len(rows(hooks_app, WebhookDelivery)) == 1


def test_a_delivery_written_while_redis_was_down_goes_out_with_the_periodic_relay(hooks_app, pg_url, receiver):
    """The event and its delivery commit with the redemption; the cron's relay hands it on later."""
    from portal.jobs.webhooks import relay_webhooks
    from tests.processes import free_port

    hook = receiver(200)
    endpoint_for_cafe(hooks_app, hook.url, "card.redeemed")
    down = make_app(pg_url, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", WEBHOOK_ALLOW_PRIVATE_URLS=True)
    redeem_at_cafe(down)
    with down.app_context():
        db.engine.dispose()
    assert [d.status for d in rows(hooks_app, WebhookDelivery)] == ["pending"] and hook.requests == []
    with hooks_app.app_context():
        assert relay_webhooks() == 1
        assert relay_webhooks() == 0  # already enqueued: the same job id
    run_jobs(hooks_app)
    assert len(hook.requests) == 1 and rows(hooks_app, WebhookDelivery)[0].status == "delivered"


# --- Pulling in order -------------------------------------------------------------------------


def test_an_event_committed_late_is_handed_out_after_those_already_seen(pg_app):
    """Event 1's transaction commits after event 2's: a reader that saw 2 and resumes still gets 1."""
    with pg_app.app_context():
        slow, quick, reader = (Session(db.engine) for _ in range(3))
        first = record(slow, "campaign.created", {"campaign_id": 1})  # id 1, not yet committed
        second = record(quick, "campaign.created", {"campaign_id": 2})
        quick.commit()
        assign_positions(reader)
        reader.commit()
        seen = [(e.id, e.position) for e in events_after(reader, 0, limit=10, merchant_id=None)]
        assert seen == [(second, 1)]  # event 1 is not visible yet, and gets no position
        slow.commit()
        assign_positions(reader)
        reader.commit()
        assert [(e.id, e.position) for e in events_after(reader, 1, limit=10, merchant_id=None)] == [(first, 2)]
        for session in (slow, quick, reader):
            session.close()


def test_events_pulled_during_concurrent_redemptions_come_in_order_with_none_missing(pg_app, gunicorn_server):
    """40 redemptions on 4 gunicorn workers while a program pulls: every event once, in sequence."""
    with pg_app.app_context():
        cafe = create_merchant(db.session, "corner-cafe", "Corner Café")
        staff = create_user(db.session, "staff@example.com", "a long password", role="merchant", merchant=cafe)
        admin = create_user(db.session, "admin@example.com", "a long password", role="admin")
        till, reader = create_token(db.session, staff, "till")[1], create_token(db.session, admin, "erp")[1]
        codes = [
            operations.issue_card(db.session, services().vault, amount=Money.parse("20.00", "USD"), actor=Actor(),
                                  idempotency_key=f"card-{i}").code
            for i in range(4)
        ]
        db.session.commit()
    done, pulled, cursor = threading.Event(), [], 0

    def pull_once(http: requests.Session) -> bool:
        nonlocal cursor
        body = http.get(f"{gunicorn_server}/api/v1/events", params={"after": cursor, "limit": 7},
                        headers={"Authorization": f"Bearer {reader}"}, timeout=30).json()
        pulled.extend(body["events"])
        cursor = body["next_after"]
        return body["has_more"]

    def puller():
        with requests.Session() as http:
            while not done.is_set():
                pull_once(http)

    def redeem(i: int):
        with requests.Session() as http:
            for n in range(10):
                answer = http.post(
                    f"{gunicorn_server}/api/v1/cards/redeem", json={"code": codes[i], "amount": "1.00"},
                    headers={"Authorization": f"Bearer {till}", "Idempotency-Key": f"sale-{i}-{n}"}, timeout=30,
                )
                assert answer.status_code == 200, answer.text

    reading = threading.Thread(target=puller)
    tills = [threading.Thread(target=redeem, args=(i,)) for i in range(4)]
    reading.start()
    for thread in tills:
        thread.start()
    for thread in tills:
        thread.join(timeout=120)
    done.set()
    reading.join(timeout=60)
    with requests.Session() as http:
        while pull_once(http):
            pass
    sequences = [e["sequence"] for e in pulled]
    assert sequences == list(range(1, len(sequences) + 1))  # in order, no gap, nothing twice
    with pg_app.app_context():
        transactions = set(db.session.scalars(sa.select(Transaction.id)))
    assert len(transactions) == 44
    assert {e["data"]["transaction_id"] for e in pulled} == transactions
    assert [e["type"] for e in pulled].count("card.redeemed") == 40
