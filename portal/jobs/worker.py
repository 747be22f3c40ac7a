"""The two long-running processes: ``portal worker`` (jobs, with RQ's scheduler for retries) and
``portal cron`` (RQ's cron scheduler enqueueing the sweeps)."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import time

import redis
from flask import Flask
from rq import SimpleWorker, Worker
from rq.cron import CronScheduler
from rq.worker import WorkerStatus
from sqlalchemy.orm import Session

from portal.events import deliveries
from portal.extensions import db
from portal.jobs import QUEUES
from portal.jobs.runtime import bind
from portal.notifications import outbox, relay
from portal.notifications.sending import parse_smtp_url, tls_context

log = logging.getLogger(__name__)
SCHEDULE = "portal.jobs.schedule"
RESTART_SECONDS = 5  # between a worker lost with Redis and the next try
IN_PROCESS_QUEUES = frozenset({"emails"})  # their jobs run in the worker itself, not in a child
# RQ's worker tries to become the scheduler when it starts, then at each maintenance run (10
# minutes by default). A lock left by a dead worker's scheduler lasts 61 s at most (its TTL);
# so a worker that started while one was still held takes the scheduling over within a minute.
MAINTENANCE_SECONDS = 60
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class RedisRequired(RuntimeError):
    pass


def _connection(app: Flask) -> redis.Redis:
    url = app.config.get("REDIS_URL")
    if not url:
        raise RedisRequired("Set REDIS_URL: without Redis, background jobs run inline in the app and need no worker")
    return redis.Redis.from_url(url)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def relay_waiting(app: Flask, connection: redis.Redis) -> int:
    """Offer whatever waits (e-mails, webhook deliveries) to its send job; returns how many were enqueued."""
    with app.app_context():
        with Session(db.engine) as session:
            emails, webhooks = outbox.waiting_ids(session), deliveries.waiting_ids(session)
        enqueued = relay.relay(emails, connection) + deliveries.relay(webhooks, connection)
        for engine in db.engines.values():
            engine.dispose()  # most jobs run in forked children: leave them no connections to share
    return enqueued


class PortalWorker(Worker):
    """RQ's forking worker, except that e-mail jobs run in the worker process itself.

    A child per message cost more than the message: the fork, new database and Redis
    connections and a cold statement cache in each (bench/mail.py: 8 messages/s forked, 37 in
    the worker). An e-mail job is short and bounded (SMTP's timeout, its job timeout), and
    "sent once" rests on the outbox row's claim, not on the process: a worker killed mid-send
    leaves the row 'sending' just as a killed child did. Every other job (bulk generation,
    sweeps) still gets a child of its own, whose memory goes with it.
    """

    _in_process = False

    def execute_job(self, job, queue) -> None:
        if queue.name not in IN_PROCESS_QUEUES:
            super().execute_job(job, queue)
            return
        self._in_process = True  # what RQ's SimpleWorker does for every job
        try:
            self.perform_job(job, queue, self.prepare_execution(job))
        finally:
            self._in_process = False
        self.set_state(WorkerStatus.IDLE)

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        if self._in_process:  # no monitor renews the heartbeat meanwhile: cover the whole job
            return SimpleWorker.get_heartbeat_ttl(self, job, working_time)
        return super().get_heartbeat_ttl(job, working_time)


_forking_pid = 0


def _note_forking_process() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def _end_with_parent() -> None:
    """In a process the worker just forked (RQ's scheduler, a job's work horse): ask the kernel
    for a SIGTERM when the worker dies, however it dies.

    A SIGKILLed worker cannot stop its children, and RQ's scheduler process would live on, an
    orphan holding the scheduler locks and running old code. On SIGTERM the scheduler releases
    its locks and stops within a second; a work horse ends (RQ's registry cleanup then treats its
    job as any job of a dead worker). Linux only: elsewhere nothing changes. The signal comes when the forking
    thread ends, and RQ forks from the worker's main thread only.
    """
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    if prctl is None or prctl(_PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        return
    if os.getppid() != _forking_pid:  # the worker died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _children_end_with_worker() -> None:
    """Have every process this one forks from now on end with it (hooks are set once per process)."""
    if not _forking_pid:
        _note_forking_process()
        os.register_at_fork(before=_note_forking_process, after_in_child=_end_with_parent)


def prepare(app: Flask) -> None:
    """Do once, when ``portal worker`` starts, what the e-mail jobs would otherwise pay for, each
    again if it runs in a forked child: import their modules, compile their templates into Jinja's
    cache, and load the TLS settings when SMTP_URL asks for TLS."""
    import portal.jobs.email  # noqa: F401 - the jobs' modules, imported before any fork
    import portal.notifications.delivery  # noqa: F401

    env = app.jinja_env
    for name in env.list_templates(filter_func=lambda name: name.startswith("email/")):
        env.get_template(name)
    try:
        settings = parse_smtp_url(app.config["SMTP_URL"]) if app.config.get("SMTP_URL") else None
    except ValueError:
        settings = None  # each send reports the bad URL where the operator looks: the message's error
    if settings and (settings.ssl or settings.starttls):
        tls_context()


def run_worker(app: Flask, *, burst: bool = False) -> None:
    """Work on every queue with RQ's scheduler (it runs the retries), until stopped.

    RQ's worker quits when Redis goes away under it; this one waits and starts again, so once
    Redis is back what waited in the outbox goes out without anyone restarting the process.
    """
    _logging()
    connection = _connection(app)
    bind(app)
    prepare(app)
    _children_end_with_worker()
    while True:
        worker = None
        try:
            # Inside the try: RQ's worker names itself in Redis as it is made, and Redis may still be down.
            worker = PortalWorker(list(QUEUES), connection=connection, maintenance_interval=MAINTENANCE_SECONDS)
            enqueued = relay_waiting(app, connection)
            log.info("Worker starting on %s; %d waiting message(s) re-enqueued", ", ".join(QUEUES), enqueued)
            worker.work(with_scheduler=True, burst=burst, logging_level="INFO")
        except redis.RedisError as error:
            log.warning("Redis unavailable (%s)", type(error).__name__)
        # RQ keeps no public flag for "asked to stop" (SIGTERM, SIGINT); its own attribute tells.
        if burst or (worker is not None and worker._shutdown_requested_date is not None):
            return
        log.warning("The worker stopped without being asked to; starting again in %d s", RESTART_SECONDS)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # while it waits, a stop request ends it at once
        signal.signal(signal.SIGINT, signal.default_int_handler)
        time.sleep(RESTART_SECONDS)


def run_cron(app: Flask) -> None:
    """Run RQ's cron scheduler with the portal's schedule, until stopped.

    RQ's cron scheduler ends when Redis is down as it starts or fails under it; this one waits
    and starts again, and a new scheduler runs the relays at once, so what waited in the outbox
    goes out as soon as Redis is back, without anyone restarting the process.
    """
    _logging()
    connection = _connection(app)
    while True:
        try:
            scheduler = CronScheduler(connection=connection)
            scheduler.load_config_from_file(SCHEDULE)
            scheduler.start()
            return  # asked to stop (SIGTERM, SIGINT): RQ's scheduler ends its loop and returns
        except redis.RedisError as error:
            log.warning("Redis unavailable (%s); the schedule starts again in %d s", type(error).__name__, RESTART_SECONDS)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # while it waits, a stop request ends it at once
        signal.signal(signal.SIGINT, signal.default_int_handler)
        time.sleep(RESTART_SECONDS)
