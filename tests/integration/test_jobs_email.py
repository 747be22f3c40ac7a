"""E-mail through the real parts: PostgreSQL, Redis, a `portal worker` subprocess and an SMTP
server (aiosmtpd) in this process. Each message must arrive once: not lost while Redis is down,
not doubled by a second relay or a killed worker, and given up visibly when the server refuses."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image

from portal.auth.users import create_user
from portal.cards.operations import issue_card, redeem
from portal.extensions import db
from portal.ledger import SYSTEM
from portal.models import OutboxMessage, utcnow
from portal.money import Money
from portal.services import services
from tests.conftest import PASSWORD
from tests.processes import relay_now, wait_for
from tests.reads import outbox

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

FAST_RETRIES = [1, 1]  # three attempts in all, a second apart


# --- An SMTP server in the test process -----------------------------------------------------


# --- The app, the worker ---------------------------------------------------------------------


# --- The stories -----------------------------------------------------------------------------


def test_a_card_issued_to_an_email_address_arrives_once_with_text_html_and_its_qr(jobs_app, smtp, start_worker):
    """Does the worker deliver one e-mail with both parts and a QR image that scans as the card's code?"""
    start_worker()
    with jobs_app.app_context():
        issued = issue_card(
            db.session, services().vault, amount=Money.parse("50.00", "USD"), actor=SYSTEM,
            idempotency_key="gift-1", send_to="friend@example.com",
        )
        db.session.commit()
        code, card_id = issued.code, issued.card.id
    wait_for(lambda: smtp.mailbox.messages, what="the e-mail")
    wait_for(lambda: outbox(jobs_app)[0].status == "sent", what="the row marked sent")
    assert relay_now(jobs_app) == 0  # a second relay finds nothing waiting
    time.sleep(2)
    (message,) = smtp.mailbox.parsed()
    assert message["To"] == "friend@example.com"
    kinds = {part.get_content_type(): part for part in message.walk()}
    assert {"text/plain", "text/html", "image/png"} <= set(kinds)
    assert code in kinds["text/plain"].get_content() and code in kinds["text/html"].get_content()
    (scanned,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(kinds["image/png"].get_content())))
    assert scanned.text == code
    (row,) = outbox(jobs_app)
    assert (row.status, row.attempts, row.card_id) == ("sent", 1, card_id)


def test_a_double_enqueue_is_one_job_and_one_message(jobs_app, smtp, start_worker):
    """If the after-commit relay and the periodic relay both offer a row before the worker runs, is it sent once?"""
    from portal.notifications.relay import relay

    with jobs_app.app_context():
        issue_card(db.session, services().vault, amount=Money.parse("10.00", "USD"), actor=SYSTEM,
                   idempotency_key="gift-1", send_to="friend@example.com")
        db.session.commit()  # enqueued once here
        (row,) = outbox(jobs_app)
        assert relay([row.id]) == 0  # the same job id: refused as a duplicate
    assert relay_now(jobs_app) == 0
    start_worker()
    wait_for(lambda: smtp.mailbox.messages, what="the e-mail")
    time.sleep(2)
    assert len(smtp.mailbox.messages) == 1


def test_with_redis_down_a_redemption_works_and_its_receipt_waits_then_goes_out_once(
    redis_down_app, jobs_app, smtp, start_worker
):
    """Redis stopped: does the redemption commit, the receipt wait, and arrive once Redis is relayed to?"""
    start_worker()  # on the live Redis, but the app below cannot reach it
    with redis_down_app.app_context():
        cara = create_user(db.session, "cara@example.com", PASSWORD, role="customer", name="Cara")
        card = issue_card(db.session, services().vault, amount=Money.parse("40.00", "USD"), actor=SYSTEM,
                          idempotency_key="issue-1", owner=cara).card
        db.session.commit()
        started = time.monotonic()
        redeem(db.session, card, Money.parse("12.00", "USD"), actor=SYSTEM, idempotency_key="pay-1", merchant=None)
        db.session.commit()
        assert time.monotonic() - started < 2  # Redis being down does not hold the till up
        assert card.account.balance == 2800
    time.sleep(2)
    assert smtp.mailbox.messages == []
    assert [(row.kind, row.status) for row in outbox(redis_down_app)] == [
        ("card_received", "pending"), ("redemption_receipt", "pending"),
    ]
    assert relay_now(jobs_app) == 2  # Redis is back: the periodic relay finds both
    wait_for(lambda: len(smtp.mailbox.messages) == 2, what="both e-mails")
    wait_for(lambda: {row.status for row in outbox(jobs_app)} == {"sent"}, what="rows marked sent")
    assert relay_now(jobs_app) == 0
    time.sleep(2)
    subjects = sorted(message["Subject"] for message in smtp.mailbox.parsed())
    assert subjects == ["A new gift card is in your Giftloop wallet", "Receipt: 12.00 USD paid with your gift card"]


def test_portal_worker_sends_what_waited_while_redis_was_down_when_it_starts(redis_down_app, smtp, start_worker):
    """Does a worker starting up re-enqueue the rows left in the outbox?"""
    with redis_down_app.app_context():
        issue_card(db.session, services().vault, amount=Money.parse("15.00", "USD"), actor=SYSTEM,
                   idempotency_key="gift-1", send_to="friend@example.com")
        db.session.commit()
    assert outbox(redis_down_app)[0].status == "pending"
    start_worker()
    wait_for(lambda: smtp.mailbox.messages, what="the e-mail")
    wait_for(lambda: outbox(redis_down_app)[0].status == "sent", what="the row marked sent")
    assert len(smtp.mailbox.messages) == 1


def test_a_refusing_mail_server_leads_to_retries_then_a_failed_row_for_admins(jobs_app, smtp, start_worker):
    """With every attempt answered 451, is the message tried 1 + retries times, then failed with the error?"""
    from portal.notifications import failed_messages

    smtp.mailbox.refuse = "451 4.3.0 Mailbox temporarily unavailable"
    start_worker(OUTBOX_RETRY_SECONDS=",".join(map(str, FAST_RETRIES)))
    with jobs_app.app_context():
        issue_card(db.session, services().vault, amount=Money.parse("20.00", "USD"), actor=SYSTEM,
                   idempotency_key="gift-1", send_to="friend@example.com")
        db.session.commit()
    wait_for(lambda: outbox(jobs_app)[0].status == "failed", timeout=30, what="the row to fail")
    (row,) = outbox(jobs_app)
    assert row.attempts == 1 + len(FAST_RETRIES) == smtp.mailbox.attempts
    assert "451" in row.last_error and "temporarily unavailable" in row.last_error
    with jobs_app.app_context():
        assert [m.id for m in failed_messages(db.session)] == [row.id]
    assert smtp.mailbox.messages == []
    assert relay_now(jobs_app) == 0  # failed for good: the relay leaves it to an admin


def test_a_row_claimed_by_a_sender_that_died_is_not_sent_twice(redis_down_app, jobs_app, smtp, start_worker):
    """A row left 'sending' by a killed worker: do relays and a retried job leave it alone, until the claim is stale?"""
    from rq import Queue

    from portal.notifications.relay import SEND_JOB

    with redis_down_app.app_context():
        issue_card(db.session, services().vault, amount=Money.parse("25.00", "USD"), actor=SYSTEM,
                   idempotency_key="gift-1", send_to="friend@example.com")
        db.session.commit()
        # As a worker leaves it when killed after its claim: 'sending', claimed just now.
        db.session.execute(sa.update(OutboxMessage).values(status="sending", attempts=1, claimed_at=utcnow()))
        db.session.commit()
    start_worker()  # its start-up relay skips a fresh claim
    assert relay_now(jobs_app) == 0
    with jobs_app.app_context():  # RQ retrying the killed job runs it again: it must find the row taken
        job = Queue("emails", connection=services().redis).enqueue_call(SEND_JOB)
    wait_for(lambda: job.get_status(refresh=True) == "finished", what="the retried job")
    assert job.return_value() == 0  # sent nothing
    time.sleep(1)
    assert smtp.mailbox.messages == []
    # Ten minutes on, the claim is taken to be dead and the message goes out (at least once).
    with jobs_app.app_context():
        db.session.execute(sa.update(OutboxMessage).values(claimed_at=utcnow() - timedelta(minutes=11)))
        db.session.commit()
    assert relay_now(jobs_app) == 1
    wait_for(lambda: smtp.mailbox.messages, what="the e-mail")
    wait_for(lambda: outbox(jobs_app)[0].status == "sent", what="the row marked sent")
    assert outbox(jobs_app)[0].attempts == 2
    time.sleep(1)
    assert len(smtp.mailbox.messages) == 1


def test_a_worker_killed_in_the_middle_of_a_send_does_not_send_a_second_copy(jobs_app, smtp, start_worker):
    """SIGKILL the worker while the SMTP server holds the message; does a new worker leave it alone?"""
    smtp.mailbox.hold.set()
    first = start_worker()
    with jobs_app.app_context():
        issue_card(db.session, services().vault, amount=Money.parse("30.00", "USD"), actor=SYSTEM,
                   idempotency_key="gift-1", send_to="friend@example.com")
        db.session.commit()
    wait_for(smtp.mailbox.receiving.is_set, what="the message to reach the server")
    first.kill()
    smtp.mailbox.release.set()
    (row,) = outbox(jobs_app)
    assert (row.status, row.attempts) == ("sending", 1)
    start_worker()  # re-enqueues what waits; a fresh claim does not wait
    assert relay_now(jobs_app) == 0
    time.sleep(3)
    assert len(smtp.mailbox.messages) == 1
    assert outbox(jobs_app)[0].status == "sending"
