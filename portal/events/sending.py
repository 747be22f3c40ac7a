"""Sending one webhook delivery: claim it, sign the body, POST it, record the answer.

Like e-mail (portal/notifications/delivery.py) a delivery is claimed before it is sent, so two
senders never send it at once, and no database transaction stays open while the receiver takes
its time. A receiver may still get an event twice (a sender that dies after the POST and before
recording it): receivers de-duplicate on the event id, as with every webhook API.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy.orm import Session

from portal.events.deliveries import claim, mark_delivered, mark_failed
from portal.events.endpoints import disable_after_failures
from portal.events.payloads import body_of
from portal.events.signing import HEADER, sign
from portal.events.transport import post
from portal.extensions import db
from portal.models.events import WebhookEndpoint
from portal.services import services

log = logging.getLogger(__name__)
USER_AGENT = "Giftloop-Webhooks/1"


class DeliveryFailed(Exception):
    """The receiver did not take the event; the delivery waits for its next try (RQ retries the job)."""


def deliver(delivery_id: int, *, final: bool, disable: bool = True) -> str:
    """Send one delivery if it is still to be sent; returns "delivered", "skipped" or "failed".

    Any 2xx answer delivers it. Otherwise, unless ``final``, the row goes back to 'pending' and
    DeliveryFailed is raised so RQ tries again with backoff. On the ``final`` failure the row is
    'failed' and, with ``disable``, the endpoint is disabled and its owner told. Events for an
    endpoint that was disabled meanwhile are not sent (test events are). Uses its own session.
    """
    with Session(db.engine, expire_on_commit=False) as session:
        delivery = claim(session, delivery_id)
        if delivery is None:
            log.info("Webhook delivery %d is done or being sent by another worker: nothing to do", delivery_id)
            return "skipped"
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint.status != "enabled" and delivery.event_id is not None:
            mark_failed(session, delivery_id, "Not sent: the endpoint is disabled", None, final=True)
            session.commit()
            return "failed"
        body, url = body_of(delivery), endpoint.url
        # Plain values: the rollback below expires the loaded rows.
        attempt, queued_at, endpoint_id = delivery.attempts, delivery.created_at, delivery.endpoint_id
        headers = {
            HEADER: sign(services().vault.decrypt(endpoint.secret_ciphertext), body),
            "User-Agent": USER_AGENT,
            "Giftloop-Delivery": str(delivery_id),
        }
        session.rollback()  # nothing stays open while the receiver answers
        status = None
        try:
            answer = post(
                url, body, headers, timeout=current_app.config["WEBHOOK_TIMEOUT_SECONDS"],
                allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE_URLS"],
            )
        except Exception as error:
            reason = f"{type(error).__name__}: {error}" if str(error) else f"{type(error).__name__}: no answer"
        else:
            if 200 <= answer.status < 300:
                mark_delivered(session, delivery_id, answer.status)
                log.info("Webhook delivery %d (attempt %d) delivered: HTTP %d", delivery_id, attempt, answer.status)
                return "delivered"
            status, reason = answer.status, f"HTTP {answer.status}: {answer.body.strip()[:200]}".rstrip(": ")
        mark_failed(session, delivery_id, reason, status, final=final)
        disabled = final and disable and disable_after_failures(session, endpoint_id, attempt, queued_at, reason)
        session.commit()
        log.warning(
            "Webhook delivery %d (attempt %d) failed%s%s: %s", delivery_id, attempt,
            " for good" if final else "", ", endpoint disabled" if disabled else "", reason,
        )
        if final:
            return "failed"
        raise DeliveryFailed(reason)


def deliver_now(ids: list[int]) -> int:
    """The embedded default (no Redis): one try now; a failure shows in the endpoint's log."""
    done = 0
    for delivery_id in ids:
        try:
            # No scheduler to retry, so the try is final; without a day of retries behind it,
            # it does not disable the endpoint.
            if deliver(delivery_id, final=True, disable=False) == "delivered":
                done += 1
        except Exception:
            log.exception("Inline delivery of webhook %d failed", delivery_id)
    return done
