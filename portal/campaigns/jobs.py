"""Running campaign jobs: the thin layer between the queue and ``generation``/``distribution`` (the
one module here that needs the app, for its database session and settings).

``start_job`` is the one place that decides how a job runs, called after the commit that
created it: with RQ on the worker's "default" queue when ``REDIS_URL`` is set, otherwise in this
process (DESIGN §1, embedded default): a small job inline, a longer one (``CAMPAIGN_INLINE_MAX``) in
a thread of its own so the request that started it returns and the job page's progress bar moves
(every job in a thread with ``CAMPAIGN_JOBS_IN_THREAD``).
``portal.jobs`` offers no enqueue helper yet; when it does, ``_enqueue`` is what to swap.
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from redis import Redis, RedisError
from rq import Queue, get_current_job

from portal.campaigns.distribution import send_batch
from portal.campaigns.generation import BATCH, generate_batch
from portal.extensions import db
from portal.jobs.lanes import lanes_setting, run_in_lanes
from portal.jobs.runtime import app_context
from portal.models import utcnow
from portal.models.campaigns import CampaignJob
from portal.services import services

QUEUE = "default"  # one of the queues every `portal worker` listens on (portal.jobs.QUEUES)
EMAIL_BATCH = 200
log = logging.getLogger(__name__)


def rq_job_id(job_id: int) -> str:
    """The RQ job id of a campaign job: derived from the row, so enqueueing twice is harmless."""
    return f"campaign-job-{job_id}"


def _enqueue(app: Flask, job_id: int) -> None:
    connection = Redis.from_url(app.config["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)
    Queue(QUEUE, connection=connection).enqueue(
        run_job, job_id, job_id=rq_job_id(job_id), job_timeout=6 * 3600, result_ttl=3600, failure_ttl=7 * 86400,
    )


def start_job(job_id: int) -> None:
    """Run the job in the background (RQ), in a thread (over ``CAMPAIGN_INLINE_MAX``, or
    ``CAMPAIGN_JOBS_IN_THREAD``), or inline now.

    If Redis cannot be reached the job stays queued and its page offers to start it again.
    """
    app = current_app._get_current_object()
    if app.config.get("REDIS_URL"):

        try:
            _enqueue(app, job_id)
        except RedisError:
            log.warning("campaign job %s could not be enqueued; it waits to be started again", job_id, exc_info=True)
    elif app.config.get("CAMPAIGN_JOBS_IN_THREAD") or _runs_long(job_id):
        threading.Thread(target=_in_context, args=(app, job_id), daemon=True, name=rq_job_id(job_id)).start()
    else:
        try:
            run_job(job_id)
        except Exception:  # noqa: BLE001 - the job row says it failed; the page shows it
            log.exception("campaign job %s failed", job_id)


def _runs_long(job_id: int) -> bool:
    """Whether the job is too long to hold a request for: 200,000 codes inline took 28 s, no feedback."""
    job = db.session.get(CampaignJob, job_id)
    return job is not None and job.requested - job.done > current_app.config["CAMPAIGN_INLINE_MAX"]


def _in_context(app: Flask, job_id: int) -> None:
    with app.app_context():
        try:
            run_job(job_id)
        except Exception:  # noqa: BLE001 - recorded on the job row
            log.exception("campaign job %s failed", job_id)
        finally:
            db.session.remove()


def run_job(job_id: int) -> None:
    """The job's entry point (RQ calls this): in the caller's app context (inline, a thread, tests),
    else in the worker process's app (``portal.jobs.runtime``)."""
    if has_app_context():
        _run(job_id)
        return
    with app_context():
        _run(job_id)


def _claim(job_id: int) -> bool:
    """Take the job (queued, or failed and being resumed) so that only one runner does it."""
    claimed = db.session.execute(
        sa.update(CampaignJob)
        .where(CampaignJob.id == job_id, CampaignJob.status.in_(("queued", "failed")))
        .values(status="running", started_at=utcnow(), error="")
        .returning(CampaignJob.id),
        execution_options={"synchronize_session": False},
    ).scalar()
    db.session.commit()
    return claimed is not None


def _report(job: CampaignJob) -> None:
    """Progress in RQ's ``job.meta`` too, for anyone watching the queue."""
    current = get_current_job()
    if current is not None:
        current.meta.update(done=job.done, requested=job.requested)
        current.save_meta()


def _batch_of(kind: str):
    """What a job of this kind does one batch at a time, and how big a batch is."""
    if kind == "email":
        return send_batch, EMAIL_BATCH
    return generate_batch, BATCH


def _lanes(kind: str) -> int:
    """How many batches of a job run at once. Generation on PostgreSQL runs in lanes, each in a
    transaction of its own, so the database inserts on one core while Python draws and seals the
    next codes on the other. SQLite has one writer; e-mail goes at the SMTP server's pace."""
    return lanes_setting("CAMPAIGN_GENERATION_LANES") if kind == "generate" else 1


def _generate_in_lanes(job_id: int, left: int, batch: int, lanes: int) -> None:
    """Generation's batches handed out to lanes (portal.jobs.lanes), ``batch`` codes at a time."""
    taking = threading.Lock()

    def step(session) -> bool:
        nonlocal left
        with taking:
            count = min(batch, left)
            left -= count
        if count:
            generate_batch(session, services().vault, session.get(CampaignJob, job_id), count)
        return bool(count)

    run_in_lanes(current_app._get_current_object(), lanes, step, name=rq_job_id(job_id))


def _run(job_id: int) -> None:
    session, vault = db.session, services().vault
    if not _claim(job_id):
        return
    try:
        job = session.get(CampaignJob, job_id, populate_existing=True)
        work, batch = _batch_of(job.kind)
        batch = int(current_app.config.get("CAMPAIGN_BATCH_SIZE", batch))
        if (lanes := _lanes(job.kind)) > 1:
            _generate_in_lanes(job_id, job.requested - job.done, batch, lanes)
            session.refresh(job)
            _report(job)
        while (left := job.requested - job.done) > 0:
            if not work(session, vault, job, min(batch, left)):
                job.requested = job.done  # nothing left to do after all (say, addresses already sent to)
                break
            session.commit()
            _report(job)
        job.status, job.finished_at = "finished", utcnow()
        session.commit()
    except Exception as error:
        session.rollback()
        job = session.get(CampaignJob, job_id, populate_existing=True)
        job.status, job.finished_at = "failed", utcnow()
        job.error = f"{type(error).__name__}: {error}"[:500]
        session.commit()
        raise
