"""The sweeps and the schedule with the real parts: jobs on RQ run by a `portal worker`, `portal
cron` enqueueing on its own, PostgreSQL underneath, and the e-mails they cause at an SMTP server."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from rq import Queue

from portal.auth.users import create_user
from portal.campaigns import redeem_code, request_generation
from portal.campaigns.definitions import create_campaign, read_spec
from portal.campaigns.distribution import add_recipients
from portal.campaigns.jobs import run_job as run_campaign_job
from portal.cards.operations import freeze, issue_card, redeem
from portal.events.signing import HEADER, verify
from portal.extensions import db
from portal.jobs.sweeps import run_expiry
from portal.ledger import SYSTEM
from portal.models import GiftCard, Merchant, WebhookDelivery, utcnow
from portal.models.campaigns import CampaignCode, CampaignRecipient
from portal.money import Money
from portal.services import services
from tests.conftest import PASSWORD
from tests.processes import PORTAL, ROOT, WorkerProcess, endpoint_for_cafe, run_jobs, wait_for
from tests.reads import outbox

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def issue(owner, key, *, days, age_days=0, amount="20.00", merchant=None):
    """A promotional card of ``days`` validity issued ``age_days`` ago."""
    return issue_card(
        db.session, services().vault, amount=Money.parse(amount, "USD"), actor=SYSTEM, idempotency_key=key,
        owner=owner, kind="promotional", expires_in_days=days, now=utcnow() - timedelta(days=age_days),
        merchant=merchant,
    ).card


def run_job(app, function: str) -> object:
    """Enqueue a job as the cron scheduler would and wait for the worker to finish it."""
    with app.app_context():
        job = Queue("sweeps", connection=services().redis).enqueue_call(function)
    wait_for(lambda: job.get_status(refresh=True) in ("finished", "failed"), timeout=60, what=function)
    assert job.get_status() == "finished", job.latest_result().exc_string
    return job.return_value()


def test_the_expiry_sweep_run_twice_reminds_each_card_once_and_expires_exactly_the_due_cards(
    jobs_app, smtp, start_worker
):
    """Over cards due soon, past due, later and unowned, does the daily job do each thing once?"""
    with jobs_app.app_context():
        cara = create_user(db.session, "cara@example.com", PASSWORD, role="customer", name="Cara")
        dev = create_user(db.session, "dev@example.com", PASSWORD, role="customer", name="Dev")
        for user in (cara, dev):
            user.receipts_by_email = False  # only the sweep's messages, please
        soon = [issue(cara, "s1", days=90, age_days=84), issue(dev, "s2", days=90, age_days=89),
                issue(dev, "s3", days=30, age_days=25)]
        past = [issue(cara, "p1", days=10, age_days=12), issue(dev, "p2", days=10, age_days=30)]
        frozen_past = issue(cara, "p3", days=10, age_days=11)
        freeze(db.session, frozen_past, actor=SYSTEM, reason="lost")
        emptied_soon = issue(cara, "e1", days=90, age_days=87, amount="5.00")
        redeem(db.session, emptied_soon, Money.parse("5.00", "USD"), actor=SYSTEM, idempotency_key="pay", merchant=None)
        later = [issue(cara, "l1", days=90), issue(dev, "l2", days=9, age_days=1)]
        bearer_soon = issue(None, "b1", days=3)
        db.session.commit()
        due = {card.id for card in [*past, frozen_past]}
        not_due = {card.id for card in [*soon, emptied_soon, *later, bearer_soon]}
        reminded = {card.id for card in soon}
        welcomes = len(outbox(jobs_app))  # "a new card is in your wallet", one per owned card
    start_worker()
    first = run_job(jobs_app, "portal.jobs.sweeps.sweep_expiry")
    second = run_job(jobs_app, "portal.jobs.sweeps.sweep_expiry")
    assert first == {"reminders": 3, "expired": 3}
    assert second == {"reminders": 0, "expired": 0}
    wait_for(lambda: len(smtp.mailbox.messages) == welcomes + 3 + 3, what="every e-mail")
    time.sleep(2)
    rows = outbox(jobs_app)
    assert {row.status for row in rows} == {"sent"}
    by_kind = Counter(row.kind for row in rows)
    assert by_kind == {"card_received": welcomes, "expiry_reminder": 3, "card_expired": 3}
    assert {row.card_id for row in rows if row.kind == "expiry_reminder"} == reminded
    assert {row.card_id for row in rows if row.kind == "card_expired"} == due
    subjects = Counter(message["Subject"].split(" on ")[0] for message in smtp.mailbox.parsed())
    assert subjects["Your gift card expires"] == 3 and subjects["Your gift card has expired"] == 3
    with jobs_app.app_context():
        statuses = dict(db.session.execute(sa.select(GiftCard.id, GiftCard.status)).all())
        balances = {card_id: db.session.get(GiftCard, card_id).account.balance for card_id in due}
    assert {card_id for card_id, status in statuses.items() if status == "expired"} == due
    assert all(statuses[card_id] in ("active", "frozen") for card_id in not_due)
    assert set(balances.values()) == {0}  # what was left went to breakage


def test_the_expiry_sweep_reminds_each_unused_emailed_code_once_at_the_mail_server(jobs_app, smtp, start_worker):
    """A campaign's codes e-mailed to three people, one of whom used theirs: does the daily job, run twice on
    PostgreSQL, remind the other two once each, with their code, three days before it stops working?"""
    with jobs_app.app_context():
        spec = read_spec(db.session, {"name": "Spring", "kind": "credit", "currency": "USD", "value": "3.00",
                                      "code_mode": "random", "code_prefix": "HI", "valid_days": "3"})
        campaign = create_campaign(db.session, services().vault, spec, actor=SYSTEM)
        run_campaign_job(request_generation(db.session, campaign, "3", actor=SYSTEM).id)
        run_campaign_job(add_recipients(db.session, campaign, ["ann@example.com", "bob@example.com", "cy@example.com"],
                                        actor=SYSTEM).id)
        ann = create_user(db.session, "ann@example.com", PASSWORD, role="customer", name="Ann")
        ann.receipts_by_email = False
        db.session.commit()
        given = db.session.execute(sa.select(CampaignRecipient.email, CampaignCode).join(
            CampaignCode, CampaignCode.id == CampaignRecipient.campaign_code_id))
        codes = {email: services().vault.decrypt(code.code.ciphertext) for email, code in given}
        redeem_code(db.session, services().vault, ann, codes["ann@example.com"])
        db.session.commit()
    start_worker()
    assert run_job(jobs_app, "portal.jobs.sweeps.sweep_expiry") == {"reminders": 2, "expired": 0}
    assert run_job(jobs_app, "portal.jobs.sweeps.sweep_expiry") == {"reminders": 0, "expired": 0}
    wait_for(lambda: len(smtp.mailbox.messages) == 3 + 2, what="the codes and their reminders")
    time.sleep(2)
    reminders = [m for m in smtp.mailbox.parsed() if m["Subject"].startswith("Your code from Spring stops working")]
    assert sorted(m["To"] for m in reminders) == ["bob@example.com", "cy@example.com"]
    for message in reminders:
        assert f"Your code: {codes[message['To']]}" in message.get_body(("plain",)).get_content()
    assert len(smtp.mailbox.messages) == 5

def test_the_sweeps_card_expired_events_are_relayed_to_rq_at_its_commit_and_reach_the_endpoint(
    hooks_app, receiver
):
    """An endpoint listening to card.expired gets one signed event per swept card, queued on RQ by
    the sweep's own commit (not left for the periodic relay), and nothing more from a second sweep."""
    hook = receiver(200)
    _, secret = endpoint_for_cafe(hooks_app, hook.url, "card.expired")
    with hooks_app.app_context():
        cafe = db.session.scalar(sa.select(Merchant).where(Merchant.slug == "corner-cafe"))
        swept = {issue(None, f"c{n}", days=10, age_days=12, amount="4.50", merchant=cafe).id for n in range(3)}
        issue(None, "later", days=90, merchant=cafe)
        issue(None, "elsewhere", days=10, age_days=12)  # no merchant: only admins hear of it
        db.session.commit()
        assert run_expiry() == {"reminders": 0, "expired": 4}
        assert Queue("webhooks", connection=services().redis).count == 3
    run_jobs(hooks_app)
    with hooks_app.app_context():
        assert run_expiry() == {"reminders": 0, "expired": 0}
    run_jobs(hooks_app)
    assert len(hook.requests) == 3
    for headers, body in hook.requests:
        verify(secret, headers[HEADER], body)
    said = {(body["type"], body["data"]["amount"], body["data"]["balance"]) for body in hook.bodies()}
    assert said == {("card.expired", "-4.50", "0.00")}
    assert {b["data"]["card"]["id"] for b in hook.bodies()} == swept
    with hooks_app.app_context():
        assert set(db.session.scalars(sa.select(WebhookDelivery.status))) == {"delivered"}


def test_the_transfer_sweep_job_lapses_what_ran_out(jobs_app, start_worker):
    """Does the hourly job end transfers past their 14 days, and nothing on its second run?"""
    from portal.cards.transfers import start_transfer
    from portal.ledger import Actor

    with jobs_app.app_context():
        olly = create_user(db.session, "olly@example.com", PASSWORD, role="customer", name="Olly")
        card = issue(olly, "t1", days=90)
        start_transfer(db.session, services().vault, card, actor=Actor(user_id=olly.id), to_email=None,
                       now=utcnow() - timedelta(days=15))
        db.session.commit()
    start_worker()
    assert run_job(jobs_app, "portal.jobs.sweeps.sweep_transfers") == {"lapsed": 1}
    assert run_job(jobs_app, "portal.jobs.sweeps.sweep_transfers") == {"lapsed": 0}
    assert run_job(jobs_app, "portal.jobs.sweeps.sweep_gifts") == {"removed": 0, "expired": 0}


def test_portal_cron_relays_what_waits_as_soon_as_it_starts(redis_down_app, smtp, start_worker, pg_url, redis_url, tmp_path):
    """With a row left behind while Redis was down, does `portal cron` get it sent through the worker?"""
    start_worker()
    with redis_down_app.app_context():
        issue_card(db.session, services().vault, amount=Money.parse("10.00", "USD"), actor=SYSTEM,
                   idempotency_key="gift-1", send_to="friend@example.com")
        db.session.commit()
    time.sleep(1)
    assert smtp.mailbox.messages == []
    env = WorkerProcess(pg_url, redis_url, smtp.url, tmp_path / "cron.log").env
    with (tmp_path / "cron.log").open("ab") as log:
        cron = subprocess.Popen([PORTAL, "cron"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: smtp.mailbox.messages, timeout=30, what="the relayed e-mail")
            connection = redis.Redis.from_url(redis_url)
            assert connection.zcard("rq:cron_job:portal.jobs.email.relay_outbox:jobs") >= 1
            connection.close()
        finally:
            cron.terminate()
            cron.wait(timeout=15)
    # With the webhook relay, the order, entitlement and hold sweeps.
    assert "Successfully registered 9 cron jobs" in (tmp_path / "cron.log").read_text()
    wait_for(lambda: outbox(redis_down_app)[0].status == "sent", what="the row marked sent")
    assert len(smtp.mailbox.messages) == 1


def test_the_schedule_registers_the_relays_and_the_four_sweeps():
    """Does the cron config give minute relays, daily expiry and event sweeps and two hourly sweeps?"""
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=redis.Redis())
    scheduler.load_config_from_file("portal.jobs.schedule")
    jobs = {job.func_name.rsplit(".", 1)[1]: job for job in scheduler.get_jobs()}
    assert (jobs["relay_outbox"].interval, jobs["relay_outbox"].queue_name) == (60, "emails")
    assert (jobs["relay_webhooks"].interval, jobs["relay_webhooks"].queue_name) == (60, "webhooks")
    assert jobs["sweep_expiry"].cron == "15 3 * * *"
    assert jobs["sweep_transfers"].cron.endswith("* * * *") and jobs["sweep_gifts"].cron.endswith("* * * *")
    assert jobs["sweep_events"].cron == "45 3 * * *"
    assert (jobs["sweep_entitlements"].cron, jobs["sweep_entitlements"].queue_name) == ("25 * * * *", "sweeps")
    assert (jobs["sweep_holds"].cron, jobs["sweep_holds"].queue_name) == ("35 * * * *", "sweeps")
    assert {jobs[name].queue_name for name in ("sweep_expiry", "sweep_transfers", "sweep_gifts", "sweep_events")} == {"sweeps"}
    scheduler.connection.close()
