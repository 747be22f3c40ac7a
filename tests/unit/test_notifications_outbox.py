"""The outbox on the embedded defaults (SQLite, no Redis, no SMTP): written with the change that
causes it, delivered inline after the commit as .eml files, claimed once, and swept idempotently."""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy

import pytest
import sqlalchemy as sa

from portal.cards.operations import issue_card, load, redeem
from portal.errors import IdempotencyConflict
from portal.extensions import db
from portal.ledger import SYSTEM
from portal.models import GiftCard, OutboxMessage, utcnow
from portal.money import Money
from portal.notifications import failed_messages, queue_email, requeue
from portal.notifications.delivery import deliver_batch
from portal.notifications.outbox import claim
from portal.services import services
from tests.reads import outbox_rows


def issue(owner=None, amount="25.00", key="issue-1", **options):
    return issue_card(
        db.session, services().vault, amount=Money.parse(amount, "USD"), actor=SYSTEM, idempotency_key=key,
        owner=owner, **options,
    )


def eml_files(directory, kind: str = "") -> list:
    return sorted(directory.glob(f"*{kind}.eml")) if directory.exists() else []


def test_an_email_is_written_only_once_its_transaction_commits(mail_app, outbox_dir):
    """Is nothing sent before the commit, and the .eml there right after it?"""
    issue(send_to="friend@example.com")
    db.session.flush()
    assert eml_files(outbox_dir) == []
    db.session.commit()
    (path,) = eml_files(outbox_dir, "card_received")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "friend@example.com"
    assert {part.get_content_type() for part in message.walk()} >= {"text/plain", "text/html", "image/png"}
    (row,) = outbox_rows("card_received")
    assert (row.status, row.attempts) == ("sent", 1)


def test_the_same_key_sends_a_card_once_and_refuses_another_address(mail_app, outbox_dir):
    """A retried "send this card to a friend" mails it once; the key reused for another friend is
    refused as another request, with no second card or message."""
    first = issue(send_to="friend@example.com")
    db.session.commit()
    assert issue(send_to=" Friend@Example.com").card.id == first.card.id
    with pytest.raises(IdempotencyConflict):
        issue(send_to="stranger@example.com")
    db.session.rollback()
    assert len(outbox_rows("card_received")) == 1
    assert db.session.scalar(sa.select(sa.func.count(GiftCard.id))) == 1


def test_a_rolled_back_change_sends_nothing(mail_app, outbox_dir):
    """If the change that caused an e-mail is rolled back, is the e-mail gone with it?"""
    issue(send_to="friend@example.com")
    db.session.rollback()
    assert outbox_rows() == [] and eml_files(outbox_dir) == []


def test_a_savepoint_rolled_back_keeps_the_rest_of_the_transactions_mail(mail_app, customer, outbox_dir):
    """If a savepoint inside the transaction rolls back, is its e-mail dropped and the other one still sent?"""
    card = issue(owner=customer).card
    nested = db.session.begin_nested()
    queue_email(db.session, key="dropped", to=customer.email, kind="expiry_reminder", context={}, card_id=card.id)
    nested.rollback()
    db.session.commit()
    assert [row.kind for row in outbox_rows()] == ["card_received"]
    assert outbox_rows()[0].status == "sent" and len(eml_files(outbox_dir)) == 1


def test_the_same_key_is_one_message(mail_app, customer, outbox_dir):
    """Does queueing one key twice (a replayed request) write one row and send one e-mail?"""
    card = issue(owner=customer).card
    first = queue_email(db.session, key="expiry_reminder:test", to=customer.email, kind="expiry_reminder", context={}, card_id=card.id)
    again = queue_email(db.session, key="expiry_reminder:test", to=customer.email, kind="expiry_reminder", context={}, card_id=card.id)
    db.session.commit()
    assert first is not None and again is None
    assert len(outbox_rows("expiry_reminder")) == 1 and len(eml_files(outbox_dir, "expiry_reminder")) == 1


def test_a_replayed_redemption_sends_one_receipt(mail_app, customer, outbox_dir):
    """Does the same idempotency key twice give one redemption and one receipt?"""
    card = issue(owner=customer, amount="30.00").card
    db.session.commit()
    for _ in range(2):
        redeem(db.session, card, Money.parse("10.00", "USD"), actor=SYSTEM, idempotency_key="pay-1", merchant=None)
        db.session.commit()
    assert len(outbox_rows("redemption_receipt")) == 1 and len(eml_files(outbox_dir, "redemption_receipt")) == 1


def test_receipts_follow_the_owners_choice(mail_app, customer, outbox_dir):
    """Does a customer with receipts off get no top-up or redemption receipt, and one with them on get both?"""
    card = issue(owner=customer, amount="30.00").card
    load(db.session, card, Money.parse("5.00", "USD"), actor=SYSTEM, idempotency_key="load-1", source="cash")
    redeem(db.session, card, Money.parse("1.00", "USD"), actor=SYSTEM, idempotency_key="pay-1", merchant=None)
    db.session.commit()
    assert [r.kind for r in outbox_rows()] == ["card_received", "topup_receipt", "redemption_receipt"]
    customer.receipts_by_email = False
    db.session.commit()
    load(db.session, card, Money.parse("5.00", "USD"), actor=SYSTEM, idempotency_key="load-2", source="cash")
    redeem(db.session, card, Money.parse("1.00", "USD"), actor=SYSTEM, idempotency_key="pay-2", merchant=None)
    db.session.commit()
    assert len(outbox_rows()) == 3


def test_a_bearer_card_sold_at_a_counter_sends_nothing(mail_app, outbox_dir):
    """With no owner and no address, is no e-mail queued?"""
    issue()
    db.session.commit()
    assert outbox_rows() == []


def test_a_message_is_claimed_by_one_sender_at_a_time(mail_app, customer):
    """Does a second claim fail while the first holds the row, and succeed once the claim is stale?"""
    card = issue(owner=customer).card
    db.session.commit()
    (row,) = outbox_rows("card_received")
    row_id = row.id
    db.session.execute(sa.update(OutboxMessage).values(status="pending", attempts=0))
    db.session.commit()
    now = utcnow()
    with db.session.no_autoflush:
        (first,) = claim(db.session, limit=10, now=now)
        assert first.id == row_id and first.attempts == 1
        assert claim(db.session, limit=10, now=now + timedelta(minutes=9)) == []
        (stale,) = claim(db.session, limit=10, now=now + timedelta(minutes=11))
        assert stale.id == row_id and stale.attempts == 2
    assert card.id == row.card_id


def test_a_row_being_sent_elsewhere_is_not_sent_again(mail_app, customer, outbox_dir):
    """If a sender holds the row (a worker killed mid-send), does another delivery skip it?"""
    issue(owner=customer)
    db.session.commit()
    (row,) = outbox_rows("card_received")
    for path in eml_files(outbox_dir):
        path.unlink()
    db.session.execute(sa.update(OutboxMessage).values(status="sending", claimed_at=utcnow()))
    db.session.commit()
    assert deliver_batch(ids=[row.id]).claimed == 0
    assert eml_files(outbox_dir) == []


def test_an_unreachable_mail_server_leaves_the_page_working_and_the_failure_listed(mail_app, customer):
    """Inline with a dead SMTP server: does the commit still succeed and the row fail visibly?"""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mail_app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    card = issue(owner=customer).card
    db.session.commit()  # no exception reaches the caller
    assert db.session.get(GiftCard, card.id) is not None
    (row,) = failed_messages(db.session)
    assert row.kind == "card_received" and row.status == "failed"
    assert "ConnectionRefusedError" in row.last_error
    mail_app.config["SMTP_URL"] = None
    assert requeue(db.session, row.id)
    db.session.commit()
    assert outbox_rows("card_received")[0].status == "sent"
    assert failed_messages(db.session) == []


def test_the_expiry_sweep_reminds_once_and_expires_exactly_the_due_cards(mail_app, customer, outbox_dir, runner_for):
    """Run twice, does the sweep remind each card due within 7 days once and expire only past-due cards?"""
    now = utcnow()
    due_soon = issue(owner=customer, key="a", kind="promotional", expires_in_days=90, now=now - timedelta(days=85)).card
    past_due = issue(owner=customer, key="b", kind="promotional", expires_in_days=10, now=now - timedelta(days=11)).card
    later = issue(owner=customer, key="c", kind="promotional", expires_in_days=30).card
    bearer_soon = issue(key="d", kind="promotional", expires_in_days=3).card
    db.session.commit()
    runner = runner_for(mail_app)
    first = runner.invoke(args=["sweep", "expiry"])
    assert first.exit_code == 0, first.output
    assert "1 reminder(s) queued, 1 card(s) expired" in first.output
    second = runner.invoke(args=["sweep", "expiry"])
    assert "0 reminder(s) queued, 0 card(s) expired" in second.output
    db.session.expire_all()
    statuses = {card.id: db.session.get(GiftCard, card.id).status for card in (due_soon, past_due, later, bearer_soon)}
    assert statuses == {due_soon.id: "active", past_due.id: "expired", later.id: "active", bearer_soon.id: "active"}
    (reminder,) = outbox_rows("expiry_reminder")
    assert reminder.card_id == due_soon.id and reminder.key.startswith(f"expiry_reminder:{due_soon.id}:")
    (expired,) = outbox_rows("card_expired")
    assert expired.card_id == past_due.id and expired.context["lost"] == 2500
    assert len(eml_files(outbox_dir, "expiry_reminder")) == 1 and len(eml_files(outbox_dir, "card_expired")) == 1


def test_the_gift_sweep_reports_what_it_did(mail_app, runner_for):
    """Does `portal sweep gifts` run and say how many gifts it removed and expired?"""
    result = runner_for(mail_app).invoke(args=["sweep", "gifts"])
    assert result.exit_code == 0 and "Gifts: 0 unpaid removed, 0 expired" in result.output


def test_the_transfer_sweep_lapses_what_ran_out(mail_app, customer, runner_for):
    """Does `portal sweep transfers` end a transfer past its 14 days, and nothing on a second run?"""
    from portal.cards.transfers import start_transfer
    from portal.ledger import Actor
    from portal.models import Transfer

    card = issue(owner=customer).card
    start_transfer(db.session, services().vault, card, actor=Actor(user_id=customer.id), to_email="f@example.com",
                   now=utcnow() - timedelta(days=15))
    db.session.commit()
    runner = runner_for(mail_app)
    assert "1 lapsed" in runner.invoke(args=["sweep", "transfers"]).output
    assert "0 lapsed" in runner.invoke(args=["sweep", "transfers"]).output
    assert db.session.scalar(sa.select(Transfer.status)) == "lapsed"


def test_the_worker_needs_redis(mail_app, runner_for):
    """Without REDIS_URL, does `portal worker` say why it cannot start?"""
    result = runner_for(mail_app).invoke(args=["worker"])
    assert result.exit_code != 0 and "REDIS_URL" in result.output


@pytest.fixture
def runner_for():
    return lambda app: app.test_cli_runner()
