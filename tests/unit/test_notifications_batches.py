"""Sending in batches: many messages over a batch's lanes (an SMTP connection each), each marked
once; a failed one waits out its backoff; a batch out of time gives back what it did not try; a
lane that cannot record a message stops the batch."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from portal.extensions import db
from portal.models import OutboxMessage, utcnow
from portal.notifications.delivery import LANES, deliver_batch
from portal.notifications.outbox import claim
from tests.reads import outbox_rows


class Server:
    """An SMTP server that counts its connections and can answer 451 to the first messages."""

    def __init__(self) -> None:
        self.connections = 0
        self.delivered: list[str] = []
        self.refuse_first = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 - aiosmtpd's hook name
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.refuse_first:
            self.refuse_first -= 1
            return "451 4.3.0 Try again later"
        self.delivered += envelope.rcpt_tos
        return "250 OK"


@pytest.fixture
def server(mail_app):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Server(), hostname="127.0.0.1", port=port)
    controller.start()
    mail_app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    yield controller.handler
    controller.stop()


def waiting(count: int) -> list[int]:
    """``count`` pending messages, written as rows alone (not relayed: no send happens on commit)."""
    db.session.execute(sa.insert(OutboxMessage), [
        {"key": f"note:{n}", "kind": "signup_existing", "recipient": f"r{n}@example.com", "context": {},
         "status": "pending", "attempts": 0, "created_at": utcnow()}
        for n in range(count)
    ])
    db.session.commit()
    return [row.id for row in outbox_rows()]


def test_one_batch_sends_every_waiting_message_over_its_lanes_each_marked_sent_once(server):
    """Do 30 waiting messages go out over at most LANES SMTP connections, each once, and a second batch find none?"""
    waiting(30)
    outcome = deliver_batch(limit=50)
    assert (outcome.claimed, outcome.sent) == (30, 30)
    assert 1 <= server.connections <= LANES
    assert sorted(server.delivered) == sorted(f"r{n}@example.com" for n in range(30))
    assert {(row.status, row.attempts) for row in outbox_rows()} == {("sent", 1)}
    assert deliver_batch(limit=50).claimed == 0
    assert len(server.delivered) == 30


def test_a_refused_message_waits_out_its_backoff_while_the_rest_of_the_batch_goes_out(server, mail_app):
    """With the first message answered 451, do the others still go, and is the first left pending until its retry time?"""
    mail_app.config["OUTBOX_RETRY_INTERVALS"] = [60, 300]
    server.refuse_first = 1
    waiting(3)
    before = utcnow()
    outcome = deliver_batch()
    assert (outcome.sent, outcome.failed, len(outcome.retries)) == (2, 0, 1)
    (row,) = [row for row in outbox_rows() if row.status != "sent"]  # the first to reach the server, on either lane
    assert (row.status, row.attempts) == ("pending", 1)
    assert "451" in row.last_error
    assert before + timedelta(seconds=59) < row.retry_at < utcnow() + timedelta(seconds=61)
    assert claim(db.session, limit=10) == []  # not before its time
    (again,) = claim(db.session, limit=10, now=utcnow() + timedelta(seconds=61))
    assert (again.id, again.attempts) == (row.id, 2)


def test_a_lane_that_cannot_mark_a_message_sent_fails_the_batch_leaving_the_rest_unsent(server, monkeypatch):
    """With the database gone for the third 'sent' mark, does the batch end with that error, no row
    sent twice, and the unmarked ones left 'sending' for CLAIM_TIMEOUT (as after a killed sender)?"""
    from portal.notifications import delivery

    marked, real = [], delivery.mark_sent

    def mark_sent(marks, outbox_id, now=None):
        if len(marked) == 2:
            raise sa.exc.OperationalError("UPDATE outbox", {}, Exception("the database went away"))
        marked.append(outbox_id)
        real(marks, outbox_id, now)

    monkeypatch.setattr(delivery, "mark_sent", mark_sent)
    waiting(20)
    with pytest.raises(sa.exc.OperationalError):
        deliver_batch()
    rows = outbox_rows()
    assert sorted(row.id for row in rows if row.status == "sent") == sorted(marked)
    assert {row.status for row in rows if row.id not in marked} == {"sending"}
    assert len(server.delivered) == len(set(server.delivered)) <= 2 + LANES  # the batch stopped there


def test_a_batch_out_of_time_gives_back_what_it_did_not_try(server):
    """With no time left, is every claimed message pending again with its attempt not counted?"""
    waiting(4)
    outcome = deliver_batch(seconds=0)
    assert (outcome.claimed, outcome.sent, outcome.released) == (4, 0, 4)
    assert server.delivered == []
    assert {(row.status, row.attempts, row.claimed_at) for row in outbox_rows()} == {("pending", 0, None)}


def test_an_unreachable_server_leaves_the_whole_batch_waiting_for_its_next_try(mail_app):
    """With nothing listening, does every message of the batch wait for a retry with the error, none lost?"""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        mail_app.config["SMTP_URL"] = f"smtp://127.0.0.1:{probe.getsockname()[1]}"
    waiting(3)
    outcome = deliver_batch()
    assert (outcome.sent, outcome.failed, len(outcome.retries)) == (0, 0, 3)
    assert {(row.status, row.attempts) for row in outbox_rows()} == {("pending", 1)}
    assert all("ConnectionRefusedError" in row.last_error for row in outbox_rows())
