"""Sending one outbox message: claim it, render it, hand it over, record the outcome.

What "sent once" means here, exactly:

* Two senders never work on a message at the same time: each first claims the row with one
  UPDATE (pending → sending), and a job offered twice (after-commit relay, periodic relay, a
  worker starting) finds the row taken or sent and does nothing.
* The row is marked 'sent' in its own commit right after the mail server accepts the message.
  If the sender dies between the server's acceptance and that commit (a window of one database
  round trip), the row stays 'sending'; nothing touches it for CLAIM_TIMEOUT (10 minutes), so a
  retry of the killed job or a relay does not send it again meanwhile. After that the message is
  sent again: at-least-once, never silently lost. The copy carries the same Message-ID (derived
  from the row's key), so mail systems that de-duplicate on it show one message.
* A sender killed before the server accepted the message (mid-DATA) left no delivered copy;
  the one sent after CLAIM_TIMEOUT is the first the recipient gets. (SMTP itself has the same
  window, RFC 1047: a server that accepted the data but whose "250 OK" was lost.)
"""

from __future__ import annotations

import logging
import smtplib

from sqlalchemy.orm import Session

from portal.extensions import db
from portal.notifications.outbox import claim, mark_failed, mark_sent
from portal.notifications.rendering import masked_address, render
from portal.notifications.sending import hand_over

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """A send attempt failed and the message waits for its next try (RQ retries the job)."""


def _permanent(error: Exception) -> bool:
    """A 5xx answer will not change on a retry (unknown mailbox, message refused)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return 500 <= error.smtp_code < 600
    return False


def _describe(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
        return f"SMTP {error.smtp_code}: {reply}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "SMTP refused the recipient: " + "; ".join(
            f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
            for code, reply in error.recipients.values()
        )
    return f"{type(error).__name__}: {error}"


def deliver(outbox_id: int, *, final: bool) -> str:
    """Send one message if it is still to be sent; returns "sent", "skipped" or "failed".

    ``final`` says this is the last attempt (RQ has no retry left, or there is no worker to
    retry): a failure then marks the row 'failed' with its error. Otherwise a failure puts the
    row back to 'pending' and raises DeliveryFailed so RQ retries the job with backoff. A 5xx
    SMTP answer is final at once. Uses a session of its own (it may run right after another
    session's commit).
    """
    with Session(db.engine, expire_on_commit=False) as session:
        row = claim(session, outbox_id)
        if row is None:
            log.info("Outbox %d is sent, failed or being sent by another worker: nothing to do", outbox_id)
            return "skipped"
        # Plain values: the session is rolled back (and its objects expired) before the mail server is called.
        kind, attempt, recipient = row.kind, row.attempts, masked_address(row.recipient)
        try:
            rendered = render(session, row)
            masked = rendered.masked_code
            session.rollback()  # no transaction stays open while the mail server takes its time
            where = hand_over(rendered.message, f"{outbox_id:08d}-{kind}")
        except Exception as error:
            session.rollback()
            last = final or _permanent(error)
            reason = _describe(error)
            mark_failed(session, outbox_id, reason, final=last)
            log.warning(
                "E-mail %s (outbox %d, attempt %d) to %s failed%s: %s",
                kind, outbox_id, attempt, recipient, " for good" if last else "", reason,
            )
            if last:
                return "failed"
            raise DeliveryFailed(reason) from error
        mark_sent(session, outbox_id)
        log.info(
            "E-mail %s (outbox %d) to %s%s sent via %s",
            kind, outbox_id, recipient, f" about {masked}" if masked else "", where,
        )
        return "sent"
