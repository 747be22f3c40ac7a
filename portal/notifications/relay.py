"""The relay: from outbox rows to send jobs on RQ, or inline when there is no Redis (DESIGN §1, §4).

Two shapes of route. A route of one job per row (webhooks) gives each row the RQ job id
``<prefix>-<row id>``, and a row whose job is still waiting or running is not offered again, so the
after-commit relay, the periodic relay and ``portal worker`` at start can all offer the same row and
it is still one job. A batched route (e-mail) has jobs that each claim the next batch of waiting
rows themselves, so a job waiting in the queue stands for every row committed before it starts:
rows are offered by making sure one such job is queued. If Redis is down the rows stay pending
and the request carries on; the periodic relay (``portal.jobs.email.relay_outbox``) picks them up
once Redis is back.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
import sqlalchemy as sa
from flask import current_app, has_app_context
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.utils import import_attribute
from sqlalchemy.orm import Session
from portal.services import services

log = logging.getLogger(__name__)

EMAIL_QUEUE = "emails"
SEND_JOB = "portal.jobs.email.send_emails"
# A batch starts no message after SEND_SECONDS (portal/jobs/email.py); the timeout adds room for
# the last exchange (SMTP's own timeout), and stays far shorter than the outbox's stale-claim limit
# (10 minutes).
SEND_TIMEOUT_SECONDS = 120
# After a Redis error, leave rows to the periodic relay for a while rather than wait on Redis
# in every request.
REDIS_PAUSE_SECONDS = 5.0
# A job that is over (or gone) no longer stands for its row: the row may be offered again.
_OVER = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}
RELAY_CHUNK = 1_000  # rows offered per WATCH/MULTI round
_QUEUED = "giftloop.relay.queued"  # in session.info: {route: [row ids]}


@dataclass(frozen=True)
class Route:
    """Where one kind of outbox row goes: its queue, its job, and how it is retried.

    E-mail is one route (batched: its job claims and sends the rows, and retries each failed
    row itself); webhook deliveries (portal/events/deliveries.py) another (a job per row, retried
    by RQ).
    """

    name: str  # "e-mail": for the logs
    queue: str
    job: str
    prefix: str  # of the RQ job id: "outbox" gives "outbox-42"
    timeout: int
    # Without Redis, the function that delivers the rows now, in this process. Named by its dotted
    # path, as RQ names ``job``: the senders build on the outbox, so the outbox cannot import them.
    inline: str
    batched: bool = False
    retry_setting: str = ""  # the config key of the retry intervals of a job per row
    default_intervals: tuple[int, ...] = ()

    def job_id(self, row_id: int) -> str:
        return f"{self.prefix}-{row_id}"

    def retry_policy(self) -> Retry:
        """RQ's retry with backoff, from the route's config setting (tests shorten it)."""
        intervals = list(current_app.config.get(self.retry_setting) or self.default_intervals)
        return Retry(max=len(intervals), interval=intervals)


def relay(ids: list[int], connection: redis.Redis | None = None, route: Route | None = None) -> int:
    """Hand rows to their send jobs; returns how many rows were newly offered to a job (or sent inline).

    Without REDIS_URL each row is delivered now, in this process. With Redis, a Redis error is
    logged and the rows wait in the outbox; nothing is raised to the caller.
    """
    route = route or EMAIL
    if not ids:
        return 0
    if connection is None:
        if not current_app.config.get("REDIS_URL"):
            return import_attribute(route.inline)(ids)
        connection = services().redis
    state = current_app.extensions.setdefault("giftloop.relay", {"resume_at": 0.0})
    if time.monotonic() < state["resume_at"]:
        log.info("Redis paused after an error; %d %s(s) wait in the outbox", len(ids), route.name)
        return 0
    try:
        if route.batched:
            return _offer_batch(connection, route, ids)
        return sum(_enqueue(connection, route, ids[n : n + RELAY_CHUNK]) for n in range(0, len(ids), RELAY_CHUNK))
    except redis.RedisError as error:
        state["resume_at"] = time.monotonic() + REDIS_PAUSE_SECONDS
        log.warning("Redis unavailable (%s); %d %s(s) wait in the outbox", type(error).__name__, len(ids), route.name)
        return 0


def _enqueue(connection: redis.Redis, route: Route, ids: list[int]) -> int:
    """Offer each row its job, in a few round trips however many rows there are.

    A row whose job is queued, scheduled for a retry or running is left alone: that job stands for
    it. A row with no job, or whose job is over (say its sender was killed), gets a new one. WATCH
    on the job keys makes the look and the writes one decision: if another relay touches one of
    these jobs in between, nothing is written and we look again.
    """
    queue = Queue(route.queue, connection=connection)
    keys = [Job.key_for(route.job_id(outbox_id)) for outbox_id in ids]
    retry = route.retry_policy()
    with connection.pipeline() as writes:
        while True:
            try:
                writes.watch(*keys)
                reads = connection.pipeline(transaction=False)
                for key in keys:
                    reads.hget(key, "status")
                statuses = [status.decode() if status else None for status in reads.execute()]
                offered = [(outbox_id, key, status) for outbox_id, key, status in zip(ids, keys, statuses)
                           if status is None or status in _OVER]
                writes.multi()
                for _, key, status in offered:
                    if status is not None:
                        writes.delete(key)
                queue.enqueue_many([
                    Queue.prepare_data(
                        route.job, args=(outbox_id,), job_id=route.job_id(outbox_id), retry=retry,
                        timeout=route.timeout, result_ttl=3600, failure_ttl=7 * 24 * 3600,
                        description=f"send {route.name} {route.job_id(outbox_id)}",
                    )
                    for outbox_id, _, _ in offered
                ], pipeline=writes)
                writes.execute()
                return len(offered)
            except redis.WatchError:
                continue


def _queued_key(route: Route) -> str:
    return f"giftloop:relay:{route.prefix}:queued"


def _offer_batch(connection: redis.Redis, route: Route, ids: list[int]) -> int:
    """Make sure a batch job will look for these rows; returns how many rows were newly offered.

    A batch job claims what waits when it runs, so one still queued (not yet started) will find
    every row committed before now: nothing is written, and 0 returned. Otherwise, none being
    queued or the last one already started (it may have claimed before these rows committed), a
    new job is queued for them. Two relays racing here may queue two jobs; the second finds less
    to claim, or nothing, and no row is sent twice.
    """
    queued = connection.get(_queued_key(route))
    if queued is not None and connection.hget(Job.key_for(queued.decode()), "status") == JobStatus.QUEUED.value.encode():
        return 0
    enqueue_batch(route, connection)
    return len(ids)


def enqueue_batch(route: Route, connection: redis.Redis, at: datetime | None = None) -> None:
    """Queue a batch job of the route now, or (``at``) for RQ's scheduler to queue then: for rows
    waiting out a backoff."""
    queue = Queue(route.queue, connection=connection)
    job_id = f"{route.prefix}-batch-{uuid.uuid4().hex}"
    options = {
        "job_id": job_id, "job_timeout": route.timeout, "result_ttl": 3600, "failure_ttl": 7 * 24 * 3600,
        "description": f"send a batch of {route.name}s",
    }
    if at is not None:
        # RQ's scheduler keeps whole seconds (dropping the fraction): the next whole second, so
        # the job does not run before the rows it is for are due.
        queue.enqueue_at(at.replace(microsecond=0) + timedelta(seconds=1), route.job, **options)
        return
    queue.enqueue(route.job, **options)
    connection.set(_queued_key(route), job_id)


EMAIL = Route(
    name="e-mail", queue=EMAIL_QUEUE, job=SEND_JOB, prefix="outbox", timeout=SEND_TIMEOUT_SECONDS,
    inline="portal.notifications.delivery.deliver_now", batched=True,
)


# --- After the commit -------------------------------------------------------------------------


def relay_after_commit(session: Session, route: Route, ids: list[int]) -> None:
    """Note rows this session queued, to be offered to the route's jobs once it commits."""
    if ids:
        session.info.setdefault(_QUEUED, {}).setdefault(route, []).extend(ids)


# SQLAlchemy fires after_commit and after_rollback for SAVEPOINTs too; only the outermost
# transaction decides. Ids queued inside a savepoint that was rolled back stay listed: their job
# finds no row and does nothing.


@sa.event.listens_for(Session, "after_commit")
def _relay_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    queued = session.info.pop(_QUEUED, None)
    if queued and has_app_context():
        for route, ids in queued.items():
            relay(sorted(set(ids)), route=route)


@sa.event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_QUEUED, None)
