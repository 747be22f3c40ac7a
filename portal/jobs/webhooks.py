"""Webhook jobs: send one delivery; relay whatever deliveries wait."""

from __future__ import annotations

import logging

from rq import get_current_job
from sqlalchemy.orm import Session

from portal.events.deliveries import relay, waiting_ids
from portal.events.sending import deliver
from portal.extensions import db
from portal.jobs.runtime import app_context

log = logging.getLogger(__name__)


def _last_try() -> bool:
    """Whether RQ has no retry left for the running job (or none is running: called directly)."""
    job = get_current_job()
    return job is None or not job.should_retry


def send_webhook(delivery_id: int) -> str:
    """Send one webhook delivery (queue "webhooks"); a failure raises so RQ retries it with backoff."""
    with app_context():
        return deliver(delivery_id, final=_last_try())


def relay_webhooks() -> int:
    """Offer every delivery that waits (Redis was down, a worker died) to its send job again."""
    with app_context():
        with Session(db.engine) as session:
            ids = waiting_ids(session)
        enqueued = relay(ids)
        if ids:
            log.info("Webhook relay: %d delivery(ies) waiting, %d newly enqueued", len(ids), enqueued)
        return enqueued
