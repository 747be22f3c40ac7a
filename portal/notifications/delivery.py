"""Sending outbox messages a batch at a time: claim them, render each, hand them over on
``LANES`` SMTP connections at once (each lane one message after another), record each outcome.

What "sent once" means here, exactly:

* Two senders never work on a message at the same time: each first claims its rows with one
  UPDATE (pending → sending), and a job run twice (after-commit relay, periodic relay, a
  worker starting) finds the rows taken or sent and does nothing.
* Each row is marked 'sent' in its own commit right after the mail server accepts that message,
  before its lane hands over the next one.
  If the sender dies between the server's acceptance and that commit (a window of one database
  round trip), the row stays 'sending'; nothing touches it for CLAIM_TIMEOUT (10 minutes), so a
  retry of the killed job or a relay does not send it again meanwhile. After that the message is
  sent again: at-least-once, never silently lost. The copy carries the same Message-ID (derived
  from the row's key), so mail systems that de-duplicate on it show one message.
* A sender killed before the server accepted the message (mid-DATA) left no delivered copy;
  the one sent after CLAIM_TIMEOUT is the first the recipient gets. (SMTP itself has the same
  window, RFC 1047: a server that accepted the data but whose "250 OK" was lost.)
* The rest of a killed sender's batch, claimed but never handed over, waits the same
  CLAIM_TIMEOUT and then goes out: late, and once.
"""

from __future__ import annotations

import logging
import queue
import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session, selectinload

from portal.extensions import db
from portal.models import GiftCard, utcnow
from portal.models.outbox import OutboxMessage
from portal.notifications.outbox import claim, mark_failed, mark_sent, release
from portal.notifications.rendering import masked_address, render
from portal.notifications.sending import Mailer, mailer

log = logging.getLogger(__name__)

BATCH = 500  # messages a sender claims at once
LANES = 3  # connections a batch sends over at once: a message renders in about a third of its hand-over and mark
# Ten seconds, a minute, five minutes, a quarter of an hour, an hour: about 1h20 in all.
DEFAULT_RETRY_INTERVALS = (10, 60, 300, 900, 3600)


def retry_intervals() -> list[int]:
    """Seconds to wait after each failed attempt before the next (OUTBOX_RETRY_INTERVALS; tests
    shorten it): a message is tried once more than there are intervals."""
    return list(current_app.config.get("OUTBOX_RETRY_INTERVALS") or DEFAULT_RETRY_INTERVALS)


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


@dataclass
class Outcome:
    """What one batch did: how many rows it claimed, sent, failed for good or gave back untried,
    and when the earliest of those that failed for now is due again."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    released: int = 0
    retries: list[datetime] = field(default_factory=list)

    @property
    def retry_at(self) -> datetime | None:
        return min(self.retries, default=None)

    def absorb(self, lane: Outcome) -> None:
        """Add what one lane of the batch did."""
        self.sent, self.failed = self.sent + lane.sent, self.failed + lane.failed
        self.retries += lane.retries


def _load_cards(session: Session, rows: list[OutboxMessage]) -> None:
    """The batch's cards with their code, account and merchant in three statements, so rendering
    a message about a card reads no more (``render`` finds them in the session)."""
    card_ids = {row.card_id for row in rows if row.card_id is not None}
    if card_ids:
        session.scalars(
            sa.select(GiftCard).where(GiftCard.id.in_(card_ids))
            .options(selectinload(GiftCard.code), selectinload(GiftCard.account), selectinload(GiftCard.merchant))
        ).all()
    session.commit()  # no transaction stays open while the mail server takes its time


def deliver_batch(
    *,
    limit: int = BATCH,
    ids: list[int] | None = None,
    last_attempt: bool = False,
    seconds: float | None = None,
    claimed_all: Callable[[], None] | None = None,
) -> Outcome:
    """Send up to ``limit`` waiting messages, oldest first (or those of ``ids`` still to be sent),
    over ``LANES`` connections to the mail server at once.

    A message whose attempt fails waits in the outbox for its next one (``retry_intervals``);
    after the last, or on a 5xx answer, or when ``last_attempt`` says no retry will come (no
    worker to retry), it is marked 'failed' with its error. With ``seconds``, no message is
    started after that long: the rest of the batch is given back untried. ``claimed_all`` is
    called when the claim took ``limit`` rows (more may wait: another sender can start on them).
    Uses a session of its own (it may run right after another session's commit).
    """
    deadline = time.monotonic() + seconds if seconds is not None else None
    outcome = Outcome()
    intervals = retry_intervals()
    with Session(db.engine, expire_on_commit=False) as session:
        rows = claim(session, limit=limit, ids=ids)
        outcome.claimed = len(rows)
        if not rows:
            return outcome
        for row in rows:  # plain values from here on: a rollback after a failed send leaves them be
            session.expunge(row)
        if claimed_all is not None and len(rows) == limit:
            claimed_all()
        _load_cards(session, rows)
        handed, stopped = queue.Queue(maxsize=LANES), threading.Event()  # rendered, waiting for the first free lane
        lanes = [
            _Lane(db.engine, mailer(), handed, stopped, intervals, last_attempt) for _ in range(min(LANES, len(rows)))
        ]
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as marks:
            try:
                for n, row in enumerate(rows):
                    if stopped.is_set():
                        break  # a lane failed: its error ends the batch
                    if deadline is not None and time.monotonic() > deadline:
                        rest = [row.id for row in rows[n:]]
                        release(marks, rest)
                        outcome.released = len(rest)
                        log.info("Out of time: %d e-mail(s) given back to the outbox untried", len(rest))
                        break
                    try:
                        rendered = render(session, row)
                    except Exception as error:  # noqa: BLE001 - the row records it and the batch goes on
                        session.rollback()
                        _record_failure(marks, row, error, intervals, last_attempt, outcome)
                        continue
                    handed.put((row, rendered))
            finally:
                for _ in lanes:
                    handed.put(None)
                for lane in lanes:
                    lane.join()
        for lane in lanes:
            outcome.absorb(lane.outcome)
        if errors := [lane.error for lane in lanes if lane.error is not None]:
            raise errors[0]
    log.info(
        "E-mail batch: %d claimed, %d sent, %d to retry, %d failed for good, %d given back",
        outcome.claimed, outcome.sent, len(outcome.retries), outcome.failed, outcome.released,
    )
    return outcome


class _Lane(threading.Thread):
    """Hands rendered messages over on a connection of its own and records each outcome on a
    database connection of its own (AUTOCOMMIT), while the batch renders the next: the wait for
    the server's four replies and the 'sent' mark is most of a message's time."""

    def __init__(
        self, engine: sa.Engine, out: Mailer, handed: queue.Queue, stopped: threading.Event, intervals: list[int],
        last_attempt: bool,
    ):
        super().__init__(daemon=True)
        self._engine, self._out, self._handed, self.stopped = engine, out, handed, stopped
        self._intervals, self._last_attempt = intervals, last_attempt
        self.outcome, self.error = Outcome(), None
        self.start()

    def run(self) -> None:
        item = ()  # until the batch's end (None) is taken, the queue must be emptied whatever happens
        try:
            with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as marks, self._out as out:
                while (item := self._handed.get()) is not None:
                    if not self.stopped.is_set():
                        _deliver(marks, out, *item, self._intervals, self._last_attempt, self.outcome)
        except BaseException as error:  # noqa: BLE001 - raised by the batch; rows not marked wait out CLAIM_TIMEOUT
            self.error = error
            self.stopped.set()  # every lane stops handing over, as a killed sender would
            while item is not None:
                item = self._handed.get()


def _record_failure(
    marks: sa.Connection, row: OutboxMessage, error: Exception, intervals: list[int], last_attempt: bool,
    outcome: Outcome,
) -> None:
    """A failed attempt: the row waits for its next one, or has failed for good."""
    reason = _describe(error)
    final = last_attempt or _permanent(error) or row.attempts > len(intervals)
    retry_at = None if final else utcnow() + timedelta(seconds=intervals[row.attempts - 1])
    mark_failed(marks, row.id, reason, retry_at=retry_at)
    if final:
        outcome.failed += 1
    else:
        outcome.retries.append(retry_at)
    log.warning(
        "E-mail %s (outbox %d, attempt %d) to %s failed%s: %s",
        row.kind, row.id, row.attempts, masked_address(row.recipient), " for good" if final else "", reason,
    )


def _deliver(
    marks: sa.Connection, out: Mailer, row: OutboxMessage, rendered, intervals: list[int], last_attempt: bool,
    outcome: Outcome,
) -> None:
    """Hand over one rendered message, and record what became of it (on ``marks``, in AUTOCOMMIT)."""
    try:
        where = out.send(rendered.message, f"{row.id:08d}-{row.kind}")
    except Exception as error:  # noqa: BLE001 - whatever failed, the row records it and the batch goes on
        _record_failure(marks, row, error, intervals, last_attempt, outcome)
        return
    mark_sent(marks, row.id)
    outcome.sent += 1
    masked = rendered.masked_code
    log.debug(  # a line per message; the batch's INFO line counts them
        "E-mail %s (outbox %d) to %s%s sent via %s", row.kind, row.id, masked_address(row.recipient),
        f" about {masked}" if masked else "", where,
    )


def deliver_now(ids: list[int]) -> int:
    """The embedded default (no Redis): deliver the rows now, never raising into the request that
    queued them. No scheduler here to retry, so a failure is final and shows in failed_messages()."""
    try:
        return deliver_batch(ids=ids, limit=len(ids), last_attempt=True).sent
    except Exception:
        log.exception("Inline delivery of %d e-mail(s) failed", len(ids))
        return 0
