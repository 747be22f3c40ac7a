"""The relay: from outbox rows to send jobs on RQ, or inline when there is no Redis (DESIGN §1, §4).

Each row gets the RQ job id ``outbox-<row id>`` and is enqueued with ``unique=True``, so the
after-commit relay, the periodic relay and ``portal worker`` at start can all offer the same row
and it is still one job. If Redis is down the row stays pending and the request carries on; the
periodic relay (``portal.jobs.email.relay_outbox``) picks it up once Redis is back.
"""

from __future__ import annotations

import logging
import time

import redis
from flask import current_app
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

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


def job_id(outbox_id: int) -> str:
    """The RQ job id of a row: the same row is always the same job."""
    return f"outbox-{outbox_id}"


def retry_policy() -> Retry:
    """RQ's retry with backoff, from OUTBOX_RETRY_INTERVALS (tests shorten it)."""
    intervals = list(current_app.config.get("OUTBOX_RETRY_INTERVALS") or DEFAULT_RETRY_INTERVALS)
    return Retry(max=len(intervals), interval=intervals)


def relay(ids: list[int], connection: redis.Redis | None = None) -> int:
    """Hand rows to their send jobs; returns how many jobs were newly enqueued (or sent inline).

    Without REDIS_URL each row is delivered now, in this process. With Redis, a Redis error is
    logged and the rows wait in the outbox; nothing is raised to the caller.
    """
    if not ids:
        return 0
    if connection is None:
        if not current_app.config.get("REDIS_URL"):
            return _inline(ids)
        from portal.services import services

        connection = services().redis
    state = current_app.extensions.setdefault("giftloop.relay", {"resume_at": 0.0})
    if time.monotonic() < state["resume_at"]:
        log.info("Redis paused after an error; %d e-mail(s) wait in the outbox", len(ids))
        return 0
    try:
        return sum(_enqueue(connection, outbox_id) for outbox_id in ids)
    except redis.RedisError as error:
        state["resume_at"] = time.monotonic() + REDIS_PAUSE_SECONDS
        log.warning("Redis unavailable (%s); %d e-mail(s) wait in the outbox", type(error).__name__, len(ids))
        return 0


def _enqueue(connection: redis.Redis, outbox_id: int) -> int:
    queue = Queue(EMAIL_QUEUE, connection=connection)
    options = dict(
        args=(outbox_id,), job_id=job_id(outbox_id), unique=True, retry=retry_policy(),
        timeout=SEND_TIMEOUT_SECONDS, result_ttl=3600, failure_ttl=7 * 24 * 3600,
        description=f"send e-mail outbox-{outbox_id}",
    )
    try:
        queue.enqueue_call(SEND_JOB, **options)
        return 1
    except DuplicateJobError:
        pass
    try:
        status = Job.fetch(job_id(outbox_id), connection=connection).get_status()
    except NoSuchJobError:
        status = None
    if status is not None and status not in _OVER:
        return 0  # queued, scheduled for a retry, or running: it stands for the row
    # The row waits but its job is over (say its sender was killed): offer it again. A racing
    # relay may do the same; the row's claim still lets one sender at a time send it.
    connection.delete(Job.key_for(job_id(outbox_id)))
    try:
        queue.enqueue_call(SEND_JOB, **options)
        return 1
    except DuplicateJobError:
        return 0


def _inline(ids: list[int]) -> int:
    """The embedded default: deliver each row now, never raising into the request that queued it."""
    from portal.notifications.delivery import deliver

    done = 0
    for outbox_id in ids:
        try:
            # No scheduler here to retry, so a failure is final and shows in failed_messages().
            if deliver(outbox_id, final=True) == "sent":
                done += 1
        except Exception:
            log.exception("Inline delivery of outbox %d failed", outbox_id)
    return done
