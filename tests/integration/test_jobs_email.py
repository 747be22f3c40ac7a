"""E-mail through the real parts: PostgreSQL, Redis, a `portal worker` subprocess and an SMTP
server (aiosmtpd) in this process. Each message must arrive once: not lost while Redis is down,
not doubled by a second relay or a killed worker, and given up visibly when the server refuses."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
import zxingcpp
from aiosmtpd.controller import Controller
from PIL import Image

from portal.auth.users import create_user
from portal.cards.operations import issue_card, redeem
from portal.extensions import db
from portal.ledger import SYSTEM
from portal.models import OutboxMessage, utcnow
from portal.money import Money
from portal.services import services
from tests.conftest import PASSWORD, TEST_SECRET, make_app

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
PORTAL = str(Path(sys.executable).with_name("portal"))
FAST_RETRIES = [1, 1]  # three attempts in all, a second apart


# --- An SMTP server in the test process -----------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that keeps what it is given; it can refuse, or hold a message mid-send."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.attempts = 0
        self.refuse: str | None = None
        self.hold = threading.Event()  # set: DATA waits (until release) before answering
        self.release = threading.Event()
        self.receiving = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if self.refuse:
            return self.refuse
        self.messages.append(envelope.original_content or envelope.content)
        self.receiving.set()
        while self.hold.is_set() and not self.release.is_set():
            await asyncio.sleep(0.05)
        return "250 2.0.0 Message accepted for delivery"

    def parsed(self):
        return [message_from_bytes(raw, policy=policy.default) for raw in self.messages]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(mailbox) -> Iterator[Controller]:
    """An SMTP server for ``mailbox`` (an aiosmtpd handler) on a free port, with ``.mailbox`` and ``.url``."""
    loop = asyncio.new_event_loop()
    controller = Controller(mailbox, loop=loop, hostname="127.0.0.1", port=free_port())
    controller.start()
    controller.mailbox = mailbox
    controller.url = f"smtp://127.0.0.1:{controller.port}"
    try:
        yield controller
    finally:
        controller.stop()
        loop.close()


@pytest.fixture
def smtp():
    """A live SMTP server on a free port; ``smtp.mailbox`` holds what it accepted."""
    mailbox = Mailbox()
    with serving(mailbox) as controller:
        yield controller
        mailbox.release.set()


# --- The app, the worker ---------------------------------------------------------------------


@pytest.fixture
def jobs_app(pg_app, pg_url, redis_url, smtp):
    """The app on the test database with Redis and the SMTP server: e-mail goes through RQ."""
    app = make_app(pg_url, REDIS_URL=redis_url, SMTP_URL=smtp.url)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def redis_down_app(pg_app, pg_url, smtp):
    """The same app with REDIS_URL pointing at a port where nothing listens."""
    app = make_app(pg_url, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", SMTP_URL=smtp.url)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def descendants(pid: int) -> list[int]:
    """Every process below pid (RQ forks a work horse per job, in a process group of its own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


class WorkerProcess:
    """`portal worker` as a subprocess on the test database, Redis and SMTP server."""

    def __init__(self, pg_url: str, redis_url: str, smtp_url: str, log: Path, **env: str) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": pg_url,
            "REDIS_URL": redis_url,
            "SMTP_URL": smtp_url,
            "SECRET_KEY": TEST_SECRET,
            "PORTAL_CODE_KEY": TEST_SECRET + "-codes",
            # The checkout first, so the worker runs this tree's code and can import jobs the
            # tests define (tests/integration/flaky_jobs.py), not only the installed package.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            **env,
        }
        self.redis_url, self.log = redis_url, log
        self.process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        from rq import Worker

        connection = redis.Redis.from_url(self.redis_url)
        before = {w.name for w in Worker.all(connection=connection)}
        self._out = self.log.open("ab")
        self.process = subprocess.Popen([PORTAL, "worker"], env=self.env, cwd=ROOT, stdout=self._out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not {w.name for w in Worker.all(connection=connection)} - before:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"portal worker did not start:\n{self.log.read_text()}")
            time.sleep(0.1)
        connection.close()
        return self

    def kill(self) -> None:
        """SIGKILL the worker and everything it forked, as a crash or an OOM kill would."""
        for pid in [*descendants(self.process.pid), self.process.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            family = descendants(self.process.pid)
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
            for pid in family:  # the scheduler and any work horse it left behind
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._out.close()
        self.process = None


@pytest.fixture
def start_worker(pg_url, redis_url, smtp, tmp_path):
    """Start `portal worker` subprocesses; every one is stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        worker = WorkerProcess(pg_url, redis_url, smtp.url, tmp_path / "worker.log", **env).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def outbox(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))
        db.session.expunge_all()
        return rows


def relay_now(app) -> int:
    """What the cron's periodic relay does, run here: offer every waiting row again."""
    from portal.jobs.email import relay_outbox

    with app.app_context():
        return relay_outbox()


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
