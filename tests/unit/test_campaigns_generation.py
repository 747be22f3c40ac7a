"""Bulk generation: set-based batches, promotional cards the ledger agrees with, jobs, exports, numbers."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

import pytest

from portal.campaigns import reports
from portal.campaigns.definitions import create_campaign, read_spec
from portal.campaigns.exports import export_rows, record_full_export
from portal.campaigns.generation import generate_batch, request_generation
from portal.campaigns.jobs import run_job, start_job
from portal.cards import operations
from portal.cards.codes import is_card_code
from portal.cards.lookup import find_card
from portal.errors import ValidationError
from portal.extensions import db
from portal.ledger import Actor, verify
from portal.models import Account, AuditEvent, GiftCard, Merchant, Transaction, User, utcnow
from portal.models.campaigns import Campaign, CampaignCode, CampaignJob
from portal.money import Money
from portal.services import services
from portal.spreadsheets import csv_chunks


@pytest.fixture
def ctx(app, people):
    with app.app_context():
        yield db.session


def admin(session) -> Actor:
    return Actor(user_id=session.scalar(db.select(User.id).where(User.role == "admin")))


def make(session, **raw) -> Campaign:
    made = create_campaign(session, services().vault, read_spec(session, {"name": "Bulk", **raw}), actor=admin(session))
    session.commit()
    return made


def cards_campaign(session, **raw) -> Campaign:
    return make(session, kind="gift_card", currency="USD", value="10.00", **raw)


def test_a_gift_card_campaign_issues_promotional_cards_the_ledger_agrees_with(ctx):
    """Do 1,200 cards in batches of 500 each hold 10.00, with one issue transaction each, and verify clean?"""
    campaign = cards_campaign(ctx, valid_days="60")
    job = request_generation(ctx, campaign, 1200, actor=admin(ctx))
    ctx.commit()
    for size in (500, 500, 200):
        generate_batch(ctx, services().vault, job, size)
        ctx.commit()
    assert job.done == 1200
    cards = ctx.scalars(db.select(GiftCard).join(CampaignCode, CampaignCode.card_id == GiftCard.id)).all()
    assert len(cards) == 1200
    assert {(c.kind, c.status, c.currency, c.owner_id, c.account.balance) for c in cards} == {("promotional", "active", "USD", None, 1000)}
    assert all(c.account.key == f"card:{c.id}" for c in cards)
    assert abs(cards[0].expires_at - (utcnow() + timedelta(days=60))) < timedelta(minutes=5)
    issues = ctx.scalar(db.select(db.func.count(Transaction.id)).where(Transaction.kind == "issue"))
    assert issues == 1200
    promotions = ctx.scalar(db.select(Account).where(Account.key == "system:promotions:USD"))
    assert promotions.balance == -1_200_000
    assert verify(ctx) == []


def test_a_generated_card_is_a_card_like_any_other(ctx):
    """Can a till find a campaign card by its code and take a payment from it?"""
    campaign = cards_campaign(ctx, merchants="corner-cafe")
    job = request_generation(ctx, campaign, 3, actor=admin(ctx))
    generate_batch(ctx, services().vault, job, 3)
    ctx.commit()
    code = list(export_rows(ctx, services().vault, campaign, full=True))[2][0]
    assert is_card_code(code)
    card = find_card(ctx, code, services().vault, services().qr)
    assert card.merchant.slug == "corner-cafe"
    cafe = ctx.scalar(db.select(Merchant).where(Merchant.slug == "corner-cafe"))
    operations.redeem(ctx, card, Money.parse("4.00", "USD"), actor=admin(ctx), idempotency_key=str(uuid.uuid4()), merchant=cafe)
    ctx.commit()
    assert card.account.balance == 600
    assert verify(ctx) == []


def test_random_codes_follow_the_pattern_and_are_distinct(ctx):
    campaign = make(ctx, kind="credit", currency="USD", value="2.00", code_mode="random", code_prefix="WELCOME", code_length="10")
    job = request_generation(ctx, campaign, 2000, actor=admin(ctx))
    generate_batch(ctx, services().vault, job, 2000)
    ctx.commit()
    codes = [row[0] for row in list(export_rows(ctx, services().vault, campaign, full=True))[1:]]
    assert len(set(codes)) == 2000
    assert all(code.startswith("WELCOME-") and len(code.replace("-", "")) == 17 for code in codes)


def test_generation_requests_are_checked(ctx):
    vanity = make(ctx, kind="credit", currency="USD", value="2.00", code_mode="vanity", code="HELLO5")
    with pytest.raises(ValidationError, match="A vanity campaign has its one shared code"):
        request_generation(ctx, vanity, 10, actor=admin(ctx))
    cards = cards_campaign(ctx)
    with pytest.raises(ValidationError, match="Generate from 1 to 1,000,000 codes at a time"):
        request_generation(ctx, cards, 0, actor=admin(ctx))
    cards.deleted_at = utcnow()
    with pytest.raises(ValidationError, match="This campaign was deleted"):
        request_generation(ctx, cards, 5, actor=admin(ctx))


def test_the_job_runs_in_batches_and_records_its_progress(app, ctx):
    """Inline (no Redis) the job runs when started; it claims its row so a second start does nothing."""
    app.config["CAMPAIGN_BATCH_SIZE"] = 300
    campaign = cards_campaign(ctx)
    job = request_generation(ctx, campaign, 1000, actor=admin(ctx))
    ctx.commit()
    start_job(job.id)
    ctx.expire_all()
    job = ctx.get(CampaignJob, job.id)
    assert (job.status, job.done, job.percent) == ("finished", 1000, 100)
    run_job(job.id)  # already finished: claims nothing, makes nothing
    assert ctx.scalar(db.select(db.func.count(CampaignCode.id))) == 1000
    assert verify(ctx) == []


def test_a_failed_job_says_why_and_resumes_where_it_stopped(app, ctx, monkeypatch):
    app.config["CAMPAIGN_BATCH_SIZE"] = 100
    campaign = make(ctx, kind="credit", currency="USD", value="1.00", code_mode="random", code_prefix="R")
    job = request_generation(ctx, campaign, 250, actor=admin(ctx))
    ctx.commit()
    from portal.campaigns import jobs

    calls = []
    real = jobs.generate_batch

    def flaky(session, vault, job, count, **kwargs):
        calls.append(count)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(session, vault, job, count, **kwargs)

    monkeypatch.setattr(jobs, "generate_batch", flaky)
    start_job(job.id)  # inline: the failure is recorded, not raised into the page
    ctx.expire_all()
    failed = ctx.get(CampaignJob, job.id)
    assert (failed.status, failed.done, failed.error) == ("failed", 100, "RuntimeError: disk full")
    start_job(job.id)
    ctx.expire_all()
    assert (ctx.get(CampaignJob, job.id).status, ctx.get(CampaignJob, job.id).done) == ("finished", 250)
    assert ctx.scalar(db.select(db.func.count(CampaignCode.id))) == 250


def test_the_job_can_run_in_a_thread_while_the_page_polls(app, ctx):
    app.config.update(CAMPAIGN_BATCH_SIZE=50, CAMPAIGN_JOBS_IN_THREAD=True)
    campaign = make(ctx, kind="credit", currency="USD", value="1.00", code_mode="random")
    job = request_generation(ctx, campaign, 400, actor=admin(ctx))
    ctx.commit()
    start_job(job.id)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ctx.expire_all()
        if ctx.get(CampaignJob, job.id).status == "finished":
            break
        time.sleep(0.05)
    assert ctx.get(CampaignJob, job.id).done == 400


def test_exports_show_masked_codes_unless_full_codes_are_asked_for_and_audited(ctx):
    campaign = cards_campaign(ctx)
    job = request_generation(ctx, campaign, 5, actor=admin(ctx))
    generate_batch(ctx, services().vault, job, 5)
    ctx.commit()
    masked = "".join(csv_chunks(export_rows(ctx, services().vault, campaign), lines=2))
    lines = masked.strip().split("\r\n")
    assert lines[0] == "code,card_id,balance,currency,status,expires_at,issued_at"
    assert len(lines) == 6 and all(line.startswith("GC-****-****-****-") for line in lines[1:])
    assert ",10.00,USD,active," in lines[1]
    with pytest.raises(ValidationError, match="Please give a reason"):
        record_full_export(ctx, campaign, actor=admin(ctx), reason=" ")
    record_full_export(ctx, campaign, actor=admin(ctx), reason="Printing the cards")
    event = ctx.scalar(db.select(AuditEvent).where(AuditEvent.action == "campaign.codes_exported"))
    assert (event.reason, event.target, event.detail) == ("Printing the cards", f"campaign:{campaign.id}", {"full_codes": True})
    full = list(export_rows(ctx, services().vault, campaign, full=True))
    assert all(is_card_code(row[0]) for row in full[1:])


def test_the_numbers_per_campaign_and_overall(ctx):
    """Issued, redeemed and breakage per campaign, and the liability of cards and wallets."""
    campaign = cards_campaign(ctx)
    job = request_generation(ctx, campaign, 4, actor=admin(ctx))
    generate_batch(ctx, services().vault, job, 4)
    ctx.commit()
    cards = ctx.scalars(db.select(GiftCard).order_by(GiftCard.id)).all()
    operations.redeem(ctx, cards[0], Money.parse("3.00", "USD"), actor=admin(ctx), idempotency_key="r1", merchant=None)
    operations.cancel(ctx, cards[1], actor=admin(ctx), idempotency_key="c1", reason="Lost in the post")
    from portal.cards.expiry import expire_card

    cards[2].expires_at = utcnow() - timedelta(days=1)
    expire_card(ctx, cards[2])
    from portal.wallet import credit_wallet

    customer = ctx.scalar(db.select(User).where(User.role == "customer"))
    credit_wallet(ctx, customer, Money.parse("2.50", "USD"), actor=admin(ctx), idempotency_key="w1", reason="Sorry")
    ctx.commit()
    flow = reports.card_flows(ctx, by_campaign=True)[(campaign.id, "USD")]
    assert (flow.cards, flow.issued, flow.redeemed, flow.breakage, flow.outstanding) == (4, 4000, 300, 2000, 1700)
    assert (flow.redemption_rate, flow.breakage_rate) == (7, 50)
    overall = reports.card_flows(ctx)[(None, "USD")]
    assert overall.issued == 4000 and overall.outstanding == 1700
    [usd] = reports.liability(ctx)
    assert (usd.cards, usd.wallets, usd.total) == (Money(1700, "USD"), Money(250, "USD"), Money(1950, "USD"))
    days = reports.redemptions_per_day(ctx, days=7)
    assert len(days) == 7 and days[-1].card_payments == 1 and sum(d.total for d in days) == 1


def test_random_codes_drawn_as_a_batch_are_distinct_and_use_every_symbol_in_every_position():
    from portal.campaigns.codes import random_codes
    from portal.cards.codes import ALPHABET

    drawn = random_codes("SPRING", 10, 3000)
    assert len(drawn) == 3000 and len(set(drawn)) == 3000
    assert all(re.fullmatch(r"SPRING(-[0-9A-HJKMNP-TV-Z]{4}){2}-[0-9A-HJKMNP-TV-Z]{2}", code) for code in drawn)
    for position in range(10):
        assert {code.replace("-", "")[6 + position] for code in drawn} == set(ALPHABET)
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}", random_codes("", 10, 1)[0])


def test_a_long_job_without_redis_runs_in_a_thread_so_the_request_answers(app, ctx, monkeypatch):
    """No Redis, 400 codes over CAMPAIGN_INLINE_MAX: start_job returns at once, and the job finishes behind it."""
    import threading

    from portal.campaigns import jobs

    app.config.update(CAMPAIGN_BATCH_SIZE=50, CAMPAIGN_INLINE_MAX=100)
    slow = threading.Event()
    real = jobs.generate_batch

    def each_batch_takes_a_while(*args):
        slow.wait(2)
        return real(*args)

    monkeypatch.setattr(jobs, "generate_batch", each_batch_takes_a_while)
    campaign = make(ctx, kind="credit", currency="USD", value="1.00", code_mode="random")
    job = request_generation(ctx, campaign, 400, actor=admin(ctx))
    ctx.commit()
    started = time.monotonic()
    start_job(job.id)
    assert time.monotonic() - started < 1.5, "the request waited for the job"
    slow.set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and ctx.get(CampaignJob, job.id).status != "finished":
        time.sleep(0.05)
        ctx.expire_all()
    assert ctx.get(CampaignJob, job.id).done == 400
