"""The real parts tests start beside the app: an SMTP server (aiosmtpd) in this process, `portal
worker` subprocesses, and the jobs a worker would run, run here."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from pathlib import Path

import redis
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from rq import SimpleWorker

from portal.events import endpoints
from portal.extensions import db
from portal.ledger import Actor
from portal.models import User
from portal.services import services
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[1]  # the checkout


PORTAL = str(Path(sys.executable).with_name("portal"))


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


def wait_for(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def relay_now(app) -> int:
    """What the cron's periodic relay does, run here: offer every waiting row again."""
    from portal.jobs.email import relay_outbox

    with app.app_context():
        return relay_outbox()


def run_jobs(app) -> None:
    """What `portal worker` does for the webhooks queue, in this process until the queue is empty
    (retries at interval 0 go straight back on the queue, so no scheduler is needed)."""
    with app.app_context():
        SimpleWorker(["webhooks"], connection=services().redis).work(burst=True, logging_level="WARNING")


def endpoint_for_cafe(app, url: str, *types: str) -> tuple[int, str]:
    with app.app_context():
        staff = db.session.scalar(sa.select(User).where(User.email == "staff@example.com"))
        made = endpoints.create_endpoint(
            db.session, services().vault, url=url, event_types=list(types), merchant_id=staff.merchant_id,
            actor=Actor(user_id=staff.id, merchant_id=staff.merchant_id), allow_private=True,
        )
        db.session.commit()
        return made.endpoint.id, made.secret
