"""The two long-running processes: ``portal worker`` (jobs, with RQ's scheduler for retries) and
``portal cron`` (RQ's cron scheduler enqueueing the sweeps)."""

from __future__ import annotations

import logging

import redis
from flask import Flask
from rq import Worker
from rq.cron import CronScheduler
from sqlalchemy.orm import Session

from portal.jobs import QUEUES
from portal.jobs.runtime import bind

log = logging.getLogger(__name__)
SCHEDULE = "portal.jobs.schedule"


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
    """Offer whatever waits in the outbox to its send job; returns how many were enqueued."""
    from portal.extensions import db
    from portal.notifications.outbox import waiting_ids
    from portal.notifications.relay import relay

    with app.app_context():
        with Session(db.engine) as session:
            ids = waiting_ids(session)
        enqueued = relay(ids, connection)
        for engine in db.engines.values():
            engine.dispose()  # the jobs run in forked children: leave them no connections to share
    return enqueued


def run_worker(app: Flask, *, burst: bool = False) -> None:
    """Work on every queue with RQ's scheduler (it runs the retries), until stopped."""
    _logging()
    connection = _connection(app)
    bind(app)
    enqueued = relay_waiting(app, connection)
    log.info("Worker starting on %s; %d waiting e-mail(s) re-enqueued", ", ".join(QUEUES), enqueued)
    Worker(list(QUEUES), connection=connection).work(with_scheduler=True, burst=burst, logging_level="INFO")


def run_cron(app: Flask) -> None:
    """Run RQ's cron scheduler with the portal's schedule, until stopped."""
    _logging()
    scheduler = CronScheduler(connection=_connection(app))
    scheduler.load_config_from_file(SCHEDULE)
    scheduler.start()
