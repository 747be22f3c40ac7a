"""Webhook jobs: send one delivery; relay whatever deliveries wait."""

from __future__ import annotations

import logging

from rq import get_current_job

from portal.events.deliveries import relay, waiting_ids
from portal.events.sending import deliver
from portal.jobs.runtime import app_context, relay_waiting

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
    return relay_waiting(waiting_ids, relay, log, "Webhook relay: %d delivery(ies) waiting, %d newly enqueued")
