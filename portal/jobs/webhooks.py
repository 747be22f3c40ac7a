"""Webhook jobs: send one delivery; relay whatever deliveries wait."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from portal.events.deliveries import relay, waiting_ids
from portal.events.sending import deliver
from portal.extensions import db
from portal.jobs.email import _last_try
from portal.jobs.runtime import app_context

log = logging.getLogger(__name__)


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
