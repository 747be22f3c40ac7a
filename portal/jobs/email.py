"""E-mail jobs: send the next batch of waiting outbox messages; relay whatever waits in the outbox."""

from __future__ import annotations

import logging


from portal.jobs.runtime import app_context, relay_waiting
from portal.notifications.delivery import deliver_batch
from portal.notifications.outbox import waiting_ids
from portal.notifications.relay import EMAIL, enqueue_batch, relay
from portal.services import services

log = logging.getLogger(__name__)

# A batch starts no message after this long, well inside the job's timeout (SEND_TIMEOUT_SECONDS):
# a slow mail server leaves the rest of its batch to the next job rather than to a killed one.
SEND_SECONDS = 60


def send_emails() -> int:
    """Send the next batch of waiting messages over one SMTP connection (queue "emails"); returns
    how many went out.

    A full claim may leave more waiting, so another batch job is queued at once (a second worker
    can take it while this one sends). Messages that failed for now wait out their backoff in the
    outbox; RQ's scheduler queues a batch job for when the first of them is due.
    """
    with app_context():
        connection = services().redis
        outcome = deliver_batch(seconds=SEND_SECONDS, claimed_all=lambda: enqueue_batch(EMAIL, connection))
        if outcome.released:
            enqueue_batch(EMAIL, connection)
        if outcome.retry_at is not None:
            enqueue_batch(EMAIL, connection, at=outcome.retry_at)
        return outcome.sent


def relay_outbox() -> int:
    """Offer every message that waits (Redis was down, a worker died) to a send job again."""
    return relay_waiting(waiting_ids, relay, log, "Outbox relay: %d message(s) waiting, %d newly offered")
