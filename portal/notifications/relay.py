"""The relay: from outbox rows to send jobs on RQ, or inline when there is no Redis (DESIGN §1, §4).

Each row gets the RQ job id ``outbox-<row id>``, and a row whose job is still waiting or running is
not offered again, so the after-commit relay, the periodic relay and ``portal worker`` at start can
all offer the same row and it is still one job. If Redis is down the row stays pending and the request carries on; the
periodic relay (``portal.jobs.email.relay_outbox``) picks it up once Redis is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
import sqlalchemy as sa
from flask import current_app, has_app_context
from rq import Queue, Retry
from rq.job import Job, JobStatus
from sqlalchemy.orm import Session
from portal.services import services

log = logging.getLogger(__name__)

EMAIL_QUEUE = "emails"
SEND_JOB = "portal.jobs.email.send_email"
# Ten seconds, a minute, five minutes, a quarter of an hour, an hour: about 1h20 in all.
DEFAULT_RETRY_INTERVALS = [10, 60, 300, 900, 3600]
# Longer than any SMTP exchange, far shorter than the outbox's stale-claim limit (10 minutes).
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

    E-mail is one route; webhook deliveries (portal/events/deliveries.py) another.
    """

    name: str  # "e-mail": for the logs
    queue: str
    job: str
    prefix: str  # of the RQ job id: "outbox" gives "outbox-42"
    retry_setting: str  # the config key of the retry intervals
    default_intervals: tuple[int, ...]
    timeout: int
    inline: Callable[[list[int]], int]  # without Redis: deliver the rows now, in this process

    def job_id(self, row_id: int) -> str:
        return f"{self.prefix}-{row_id}"

    def retry_policy(self) -> Retry:
        """RQ's retry with backoff, from the route's config setting (tests shorten it)."""
        intervals = list(current_app.config.get(self.retry_setting) or self.default_intervals)
        return Retry(max=len(intervals), interval=intervals)


def job_id(outbox_id: int) -> str:
    """The RQ job id of a row: the same row is always the same job."""
    return EMAIL.job_id(outbox_id)


def retry_policy() -> Retry:
    """RQ's retry with backoff, from OUTBOX_RETRY_INTERVALS (tests shorten it)."""
    return EMAIL.retry_policy()


def relay(ids: list[int], connection: redis.Redis | None = None, route: Route | None = None) -> int:
    """Hand rows to their send jobs; returns how many jobs were newly enqueued (or sent inline).

    Without REDIS_URL each row is delivered now, in this process. With Redis, a Redis error is
    logged and the rows wait in the outbox; nothing is raised to the caller.
    """
    route = route or EMAIL
    if not ids:
        return 0
    if connection is None:
        if not current_app.config.get("REDIS_URL"):
            return route.inline(ids)
        connection = services().redis
    state = current_app.extensions.setdefault("giftloop.relay", {"resume_at": 0.0})
    if time.monotonic() < state["resume_at"]:
        log.info("Redis paused after an error; %d %s(s) wait in the outbox", len(ids), route.name)
        return 0
    try:
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


def _inline(ids: list[int]) -> int:
    """The embedded default: deliver each row now, never raising into the request that queued it."""
    from portal.notifications.delivery import deliver  # delivery imports outbox, which imports this module

    done = 0
    for outbox_id in ids:
        try:
            # No scheduler here to retry, so a failure is final and shows in failed_messages().
            if deliver(outbox_id, final=True) == "sent":
                done += 1
        except Exception:
            log.exception("Inline delivery of outbox %d failed", outbox_id)
    return done


EMAIL = Route(
    name="e-mail", queue=EMAIL_QUEUE, job=SEND_JOB, prefix="outbox", retry_setting="OUTBOX_RETRY_INTERVALS",
    default_intervals=tuple(DEFAULT_RETRY_INTERVALS), timeout=SEND_TIMEOUT_SECONDS, inline=_inline,
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
