"""Faults on the real stack: Redis stopped and started again, a worker killed mid-send, two expiry
sweeps at once, a PostgreSQL connection cut mid-redemption. `portal ledger verify` passes after each."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from rq.registry import StartedJobRegistry

from portal.cards.operations import issue_card
from portal.extensions import db
from portal.ledger import SYSTEM
from portal.models import GiftCard, OutboxMessage, Transaction, utcnow
from portal.money import Money
from portal.services import services
from tests.conftest import TEST_SECRET, make_app, serve_gunicorn
from tests.processes import PORTAL, ROOT, WorkerProcess, free_port, serving, wait_for
from tests.reads import outbox
from tests.security.conftest import CUSTOMERS, STAFF, Stack, seed_people

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def ledger_verify(pg_url: str) -> subprocess.CompletedProcess:
    """`portal ledger verify` against the test database, as an operator would run it."""
    env = {**os.environ, "DATABASE_URL": pg_url, "SECRET_KEY": TEST_SECRET, "PORTAL_CODE_KEY": TEST_SECRET + "-codes"}
    return subprocess.run([PORTAL, "ledger", "verify"], env=env, cwd=ROOT, capture_output=True, text=True)


# --- A Redis of the test's own, which it may stop -----------------------------------------------


class OwnRedis:
    """A redis-server on a free port (never the shared one), without persistence: stopping it
    loses every queued job, as a crash of an unpersisted Redis would."""

    def __init__(self, workdir: Path):
        self.port, self.workdir = free_port(), workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=10, what="redis-server to start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@pytest.fixture
def own_redis(tmp_path):
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


# --- An SMTP server that takes a message only when it answers 250 ---------------------------------


class Mailbox:
    """Keeps a message once it accepts it; may hold the exchange open mid-DATA first. A client
    that vanishes while held leaves nothing behind (aiosmtpd cancels the handler)."""

    def __init__(self):
        self.messages: list[bytes] = []
        self.hold = threading.Event()
        self.receiving = threading.Event()
        self.dropped = threading.Event()  # the client went away while held

    async def handle_DATA(self, server, session, envelope):
        self.receiving.set()
        try:
            while self.hold.is_set():
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            self.dropped.set()
            raise
        self.messages.append(envelope.original_content or envelope.content)
        return "250 2.0.0 Message accepted for delivery"


@pytest.fixture
def mail():
    mailbox = Mailbox()
    with serving(mailbox) as controller:
        yield controller
        mailbox.hold.clear()


class Processes:
    """`portal worker` and `portal cron` subprocesses; all are stopped at the end of the test."""

    def __init__(self, pg_url: str, redis_url: str, smtp_url: str, log: Path):
        self.pg_url, self.redis_url, self.smtp_url, self.log = pg_url, redis_url, smtp_url, log
        self.workers: list[WorkerProcess] = []
        self.crons: list[subprocess.Popen] = []

    def worker(self) -> WorkerProcess:
        worker = WorkerProcess(self.pg_url, self.redis_url, self.smtp_url, self.log).start()
        self.workers.append(worker)
        return worker

    def cron(self) -> subprocess.Popen:
        env = WorkerProcess(self.pg_url, self.redis_url, self.smtp_url, self.log).env
        with self.log.open("ab") as out:
            process = subprocess.Popen([PORTAL, "cron"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.crons.append(process)
        return process

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for process in self.crons:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.log.exists():
            print(self.log.read_text())  # shown by pytest when the test failed


@pytest.fixture
def processes(pg_url, own_redis, mail, tmp_path):
    started = Processes(pg_url, own_redis.url, mail.url, tmp_path / "processes.log")
    yield started
    started.stop()


# --- The stories ---------------------------------------------------------------------------------------


def test_with_redis_stopped_redemptions_commit_and_every_receipt_arrives_within_a_minute_of_its_return(
    pg_app, pg_url, own_redis, mail, processes, tmp_path
):
    """Redis stops under a running shop: do tills still take cards, and once Redis is back does
    every receipt that waited arrive, once each, within 60 s?"""
    seed_people(pg_app)
    processes.worker()
    processes.cron()
    with serve_gunicorn(pg_url, own_redis.url, SMTP_URL=mail.url) as url:
        stack = Stack(url, pg_app)
        issued = stack.api(STAFF["corner-cafe"], "POST", "/cards", json={"amount": "50.00", "owner_email": CUSTOMERS[0]})
        card_id, code = issued.json()["id"], issued.json()["code"]
        wait_for(lambda: len(mail.mailbox.messages) == 1, timeout=30, what="the new-card e-mail")

        own_redis.stop()
        paid = [stack.api(STAFF["corner-cafe"], "POST", "/cards/redeem", json={"code": code, "amount": "3.00"}) for _ in range(5)]
        assert [p.status_code for p in paid] == [200] * 5
        assert stack.balance(card_id) == 3500
        # A visitor's balance check still answers (its guess counter falls back to the process).
        assert stack.visitor().submit("/balance", {"code": code}).status_code == 200
        time.sleep(2)
        assert [row.status for row in outbox(pg_app)].count("pending") == 5
        assert len(mail.mailbox.messages) == 1

        own_redis.start()
        returned = time.monotonic()
        wait_for(lambda: {row.status for row in outbox(pg_app)} == {"sent"}, timeout=75, what="every row sent")
        assert time.monotonic() - returned <= 60
    time.sleep(1)
    assert len(mail.mailbox.messages) == 6  # the card, then five receipts: none lost, none doubled
    assert ledger_verify(pg_url).returncode == 0


def test_portal_cron_started_while_redis_is_down_relays_what_waits_once_redis_is_back(
    pg_app, pg_url, own_redis, mail, processes
):
    """`portal cron` started during an outage waits for Redis instead of dying, and then relays the
    receipt that waited (the running worker reconnects by itself but does not look in the outbox)."""
    app = make_app(pg_url, REDIS_URL=own_redis.url, SMTP_URL=mail.url)
    processes.worker()
    own_redis.stop()
    with app.app_context():
        issue_card(db.session, services().vault, amount=Money.parse("30.00", "USD"), actor=SYSTEM,
                   idempotency_key="gift-1", send_to="friend@example.com")
        db.session.commit()
    cron = processes.cron()
    wait_for(lambda: "the schedule starts again" in processes.log.read_text() or cron.poll() is not None,
             what="the cron to meet the outage")
    own_redis.start()
    wait_for(lambda: mail.mailbox.messages, timeout=60, what="the waiting e-mail, relayed by the cron")
    assert cron.poll() is None, "portal cron ended during the outage"
    assert [row.status for row in outbox(app)] == ["sent"]
    with app.app_context():
        db.engine.dispose()


def test_a_worker_killed_in_the_middle_of_an_email_ends_with_it_sent_exactly_once(
    pg_app, pg_url, own_redis, mail, processes
):
    """SIGKILL the worker while the mail server is still receiving: the message is not lost, and
    once the dead claim is recognised it goes out exactly once (not again afterwards)."""
    app = make_app(pg_url, REDIS_URL=own_redis.url, SMTP_URL=mail.url)
    mail.mailbox.hold.set()
    first = processes.worker()
    with app.app_context():
        issue_card(db.session, services().vault, amount=Money.parse("30.00", "USD"), actor=SYSTEM,
                   idempotency_key="gift-1", send_to="friend@example.com")
        db.session.commit()
    wait_for(mail.mailbox.receiving.is_set, what="the message to reach the server")
    first.kill()
    wait_for(mail.mailbox.dropped.is_set, what="the server to see the sender gone")
    mail.mailbox.hold.clear()
    time.sleep(1)
    assert mail.mailbox.messages == []
    (row,) = outbox(app)
    assert (row.status, row.attempts) == ("sending", 1)
    # Ten minutes on: the claim has timed out, RQ's maintenance has found the killed job abandoned
    # (its lease ran out) and given it its retry, and the dead worker's scheduler lock (61 s) is gone.
    with app.app_context():
        db.session.execute(sa.update(OutboxMessage).values(claimed_at=utcnow() - timedelta(minutes=11)))
        db.session.commit()
        connection = services().redis
        StartedJobRegistry("emails", connection=connection).cleanup(timestamp=time.time() + 3600)
        connection.delete(*connection.keys("rq:scheduler-lock:*"))
    processes.worker()
    processes.cron()
    wait_for(lambda: outbox(app)[0].status == "sent", timeout=60, what="the row marked sent")
    time.sleep(3)
    assert len(mail.mailbox.messages) == 1
    assert outbox(app)[0].attempts == 2
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    assert ledger_verify(pg_url).returncode == 0


def test_two_expiry_sweeps_at_the_same_moment_expire_each_card_once(pg_app, pg_url):
    """Two sweeps started together (two cron processes by mistake): one `expire` per card."""
    from portal.jobs.sweeps import run_expiry

    with pg_app.app_context():
        for i in range(30):
            issue_card(db.session, services().vault, amount=Money.parse("5.00", "USD"), actor=SYSTEM,
                       idempotency_key=f"old-{i}", kind="promotional", expires_in_days=10,
                       now=utcnow() - timedelta(days=11))
        db.session.commit()
    barrier = threading.Barrier(2)
    errors = []

    def sweep(app, barrier=None):
        with app.app_context():
            if barrier is not None:
                barrier.wait(timeout=120)
            try:
                run_expiry()
            except Exception as error:  # noqa: BLE001 - a refused duplicate is fine, a half sweep is not
                errors.append(error)
                db.session.rollback()
            db.session.remove()
            db.engine.dispose()

    # Each sweep's app is built here, so the barrier waits only for the two sweeps to start
    # (building an app inside the thread took over 30 s once on a loaded CI machine).
    threads = [threading.Thread(target=sweep, args=(make_app(pg_url), barrier)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    sweep(make_app(pg_url))  # and once more the same day, alone
    with pg_app.app_context():
        per_card = db.session.execute(
            sa.select(Transaction.card_id, sa.func.count()).where(Transaction.kind == "expire").group_by(Transaction.card_id)
        ).all()
        assert len(per_card) == 30 and {n for _, n in per_card} == {1}, (per_card, errors)
        assert set(db.session.scalars(sa.select(GiftCard.status))) == {"expired"}
    assert ledger_verify(pg_url).returncode == 0


def test_a_sweep_in_lanes_expires_every_due_card_once_and_moves_every_cent_to_breakage(pg_app, pg_url, monkeypatch):
    """Two lanes of small batches claim due cards side by side: each due card expires once, the
    card that is not due stays open, and breakage gains exactly what the due cards held."""
    from portal.jobs import sweeps
    from portal.ledger import balance_of, system_account

    monkeypatch.setattr(sweeps, "EXPIRY_BATCH", 4)
    with pg_app.app_context():
        for i in range(23):
            issue_card(db.session, services().vault, amount=Money.parse(f"{i + 1}.00", "USD"), actor=SYSTEM,
                       idempotency_key=f"due-{i}", kind="promotional", expires_in_days=10,
                       now=utcnow() - timedelta(days=11))
        open_card = issue_card(db.session, services().vault, amount=Money.parse("9.00", "USD"), actor=SYSTEM,
                               idempotency_key="not-due", kind="promotional", expires_in_days=10).card.id
        db.session.commit()
        pg_app.config["EXPIRY_LANES"] = 2
        assert sweeps.run_expiry()["expired"] == 23
        per_card = dict(db.session.execute(
            sa.select(Transaction.card_id, sa.func.count()).where(Transaction.kind == "expire").group_by(Transaction.card_id)
        ).all())
        assert len(per_card) == 23 and set(per_card.values()) == {1} and open_card not in per_card
        assert db.session.get(GiftCard, open_card).status == "active"
        assert balance_of(db.session, system_account(db.session, "breakage", "USD").id) == sum(range(1, 24)) * 100
        assert sweeps.run_expiry()["expired"] == 0
    assert ledger_verify(pg_url).returncode == 0


def test_a_connection_cut_mid_redemption_leaves_no_half_transaction(pg_app, pg_url, payment_path):
    """PostgreSQL drops the till's connection in the middle of a redemption — on the Python path
    between the balance update and the entries, on the one-call path as the call is made, after
    the request's key was taken: nothing of it remains, and the till's retry with the same key
    charges once."""
    seed_people(pg_app)
    stack = Stack("", pg_app)
    card_id, code = stack.card("20.00")
    token = stack.token(STAFF["corner-cafe"])
    app = make_app(pg_url)
    killer = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    cut = []

    def cut_before_entries(conn, cursor, statement, parameters, context, executemany):
        mid_way = "giftloop_redeem" in statement if payment_path == "one call" else (
            statement.lstrip().upper().startswith("INSERT INTO LEDGER_ENTRIES"))
        if mid_way and not cut:
            cut.append(conn.connection.dbapi_connection.info.backend_pid)
            with killer.connect() as other:
                other.execute(sa.select(sa.func.pg_terminate_backend(cut[0])))

    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", cut_before_entries)
    client = app.test_client()
    refused = client.post("/api/v1/cards/redeem", json={"code": code, "amount": "7.50"}, headers=headers)
    assert cut, "the redemption never reached the point of the cut"
    assert refused.status_code == 500 and refused.json["code"] == "server_error"
    assert stack.balance(card_id) == 2000
    assert stack.transactions("redeem") == 0
    assert ledger_verify(pg_url).returncode == 0

    retried = client.post("/api/v1/cards/redeem", json={"code": code, "amount": "7.50"}, headers=headers)
    assert retried.status_code == 200, retried.json
    again = client.post("/api/v1/cards/redeem", json={"code": code, "amount": "7.50"}, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == retried.json
    assert stack.balance(card_id) == 1250
    assert stack.transactions("redeem") == 1
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    killer.dispose()
    assert ledger_verify(pg_url).returncode == 0
