"""E-mail jobs: send one outbox message; relay whatever waits in the outbox."""

from __future__ import annotations

import logging

from rq import get_current_job
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.jobs.runtime import app_context
from portal.notifications.delivery import deliver
from portal.notifications.outbox import waiting_ids
from portal.notifications.relay import relay

log = logging.getLogger(__name__)


def _last_try() -> bool:
    """Whether RQ has no retry left for the running job (or none is running: called directly)."""
    job = get_current_job()
    return job is None or not job.should_retry


def send_email(outbox_id: int) -> str:
    """Send one outbox message (queue "emails"); a failure raises so RQ retries it with backoff."""
    with app_context():
        return deliver(outbox_id, final=_last_try())


def relay_outbox() -> int:
    """Offer every message that waits (Redis was down, a worker died) to its send job again."""
    with app_context():
        with Session(db.engine) as session:
            ids = waiting_ids(session)
        enqueued = relay(ids)
        if ids:
            log.info("Outbox relay: %d message(s) waiting, %d newly enqueued", len(ids), enqueued)
        return enqueued
