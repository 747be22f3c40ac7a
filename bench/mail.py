"""Figure 7: e-mails per second through one ``portal worker`` to a local SMTP server.

The messages are queued through the outbox as the domain queues them (relayed to RQ after the
commit); one worker in burst mode sends them to an in-process aiosmtpd sink, which notes when
each arrives. The rate is taken between the first and the last arrival, so the worker's start-up
is not counted.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from portal.extensions import db

READER = "reader"


class Sink:
    """An SMTP server that keeps only the arrival time of each message."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if envelope.rcpt_tos[0].startswith(READER):  # not mail an earlier figure left queued
            with self._lock:
                self.arrivals.append(time.monotonic())
        return "250 OK"


def queue_messages(app, count: int, run: str) -> None:
    """``count`` expiry notices to the bench customer, queued and relayed as the domain does."""
    from portal.models import GiftCard
    from portal.notifications.outbox import queue_email

    with app.app_context():
        card_id = db.session.scalar(sa.select(GiftCard.id).order_by(GiftCard.id).limit(1))
        for n in range(count):
            queue_email(
                db.session, key=f"bench-mail:{run}:{n}", to=f"{READER}{n}@bench.test", kind="card_expired",
                context={"lost": 500, "currency": "USD", "expired_on": "1 January 2027"}, card_id=card_id,
            )
        db.session.commit()  # the relay enqueues them after the commit


def messages_per_second(app, env: dict, root: Path, count: int, run: str) -> float:
    """Send ``count`` messages through one burst worker; messages per second at the sink."""
    sink = Sink()
    with socket.socket() as probe:  # aiosmtpd needs a real port to check that it started
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        queue_messages(app, count, run)
        worker_env = {**env, "SMTP_URL": f"smtp://127.0.0.1:{port}"}
        subprocess.run(
            [str(Path(sys.executable).with_name("portal")), "worker", "--burst"], cwd=root, env=worker_env, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600,
        )
    finally:
        controller.stop()
    if len(sink.arrivals) < count:
        # Delivery is not what is measured here: the rate of those that came still stands.
        print(f"  warning: {len(sink.arrivals)} of {count} e-mails arrived", flush=True)
    if len(sink.arrivals) < 2:
        raise SystemExit("too few e-mails arrived to time")
    return (len(sink.arrivals) - 1) / (sink.arrivals[-1] - sink.arrivals[0])
