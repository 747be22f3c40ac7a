"""Figure 7: a campaign's e-mails per second through one ``portal worker`` to a local SMTP server.

An admin's campaign e-mails one code to each of ``count`` addresses: the codes are generated and
the recipients listed, then the campaign's e-mail job writes the outbox rows (relayed to RQ after
each commit), all before the worker starts. One worker in burst mode then sends them to an
aiosmtpd sink in this process, which notes when each arrives. The rate is taken between the
first and the last arrival, so neither the queueing nor the worker's start-up is counted.

Alone, on a database and a Redis of its own: ``python -m bench.mail --messages 100000``.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from flask_migrate import upgrade

from bench import stage
from bench.batch import credit_campaign
from portal import create_app
from portal.auth.users import create_user
from portal.campaigns.distribution import add_recipients
from portal.campaigns.jobs import run_job
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


def queue_campaign(app, count: int, run: str, admin_email: str) -> float:
    """A credit campaign e-mailed to ``count`` new addresses, queued as an admin's job queues it;
    returns the seconds the queueing took (codes, list and outbox rows)."""

    started = time.perf_counter()
    with app.app_context():
        session = db.session
        campaign, generation, actor = credit_campaign(session, admin_email, f"Bench mail {run}", "MAIL", count)
        run_job(generation.id)
        addresses = [f"{READER}{n}.{run}@bench.test" for n in range(count)]
        sending = add_recipients(session, campaign, addresses, actor=actor)
        session.commit()
        run_job(sending.id)  # writes the outbox rows; each commit relays them to RQ
        session.remove()
    return time.perf_counter() - started


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def messages_per_second(app, env: dict, root: Path, count: int, run: str, admin_email: str) -> float:
    """Queue a campaign of ``count`` e-mails, send them through one burst worker; messages per
    second at the sink. Prints the worker's CPU time per message too: on a shared machine the
    rate follows the load, the CPU time far less."""
    sink = Sink()
    with socket.socket() as probe:  # aiosmtpd needs a real port to check that it started
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        queued = queue_campaign(app, count, run, admin_email)
        print(f"  {count:,} e-mails queued in {queued:.1f} s; one worker sends them", flush=True)
        worker_env = {**env, "SMTP_URL": f"smtp://127.0.0.1:{port}"}
        cpu = _children_cpu()
        subprocess.run(
            [str(Path(sys.executable).with_name("portal")), "worker", "--burst"], cwd=root, env=worker_env, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600,
        )
        cpu = _children_cpu() - cpu
    finally:
        controller.stop()
    print(f"  the worker used {cpu:.1f} s of CPU, {cpu / max(len(sink.arrivals), 1) * 1000:.2f} ms a message "
          f"(start-up included); load {os.getloadavg()[0]:.1f}", flush=True)
    if len(sink.arrivals) < count:
        # Delivery is not what is measured here: the rate of those that came still stands.
        print(f"  warning: {len(sink.arrivals)} of {count} e-mails arrived", flush=True)
    if len(sink.arrivals) < 2:
        raise SystemExit("too few e-mails arrived to time")
    return (len(sink.arrivals) - 1) / (sink.arrivals[-1] - sink.arrivals[0])


def main() -> None:
    """Figure 7 alone, on the bench's database (built afresh) and a Redis of its own."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    stage.fresh_database()
    redis_server = stage.start_redis()
    try:
        os.environ.update(stage.environment())


        app = create_app()
        with app.app_context():
            upgrade()
            create_user(db.session, stage.PEOPLE["admin"], stage.PASSWORD, role="admin", name="Ada")
            db.session.commit()
        rates = [
            messages_per_second(app, stage.environment(), stage.ROOT, args.messages, f"{int(time.time())}-{n}",
                                stage.PEOPLE["admin"])
            for n in range(args.repeat)
        ]
        print(f"e-mail: {', '.join(f'{rate:.0f}' for rate in rates)} messages/s ({args.messages:,} a run)")
    finally:
        redis_server.terminate()
        redis_server.wait(timeout=10)


if __name__ == "__main__":
    main()
