"""The e-mails the seeds list for campaign codes (issue 27): a receipt when a credit or feature code is
redeemed, and a reminder before a code someone was sent stops working, once however often the sweep runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.auth.users import create_user
from portal.campaigns import redeem_code, request_generation
from portal.campaigns.definitions import create_campaign, read_spec
from portal.campaigns.distribution import add_recipients
from portal.campaigns.jobs import run_job
from portal.errors import AlreadyRedeemed
from portal.extensions import db
from portal.jobs.sweeps import run_expiry
from portal.ledger import Actor
from portal.models import utcnow
from portal.models.campaigns import CampaignCode, CampaignRecipient, CampaignUse
from portal.notifications.reminders import queue_code_reminders
from portal.services import services
from tests.conftest import PASSWORD
from tests.reads import outbox_rows


def campaign(**raw):
    spec = read_spec(db.session, {"name": "Spring", **raw}, now=utcnow())
    made = create_campaign(db.session, services().vault, spec, actor=Actor())
    db.session.commit()
    return made


def sent_to(made, addresses: list[str]) -> dict[str, str]:
    """Generate a code for each address and e-mail them, as the admin's pages do: {address: its code}."""
    run_job(request_generation(db.session, made, str(len(addresses)), actor=Actor()).id)
    run_job(add_recipients(db.session, made, addresses, actor=Actor()).id)
    db.session.commit()
    rows = db.session.execute(
        sa.select(CampaignRecipient.email, CampaignCode).join(CampaignCode, CampaignCode.id == CampaignRecipient.campaign_code_id)
    ).all()
    return {email: services().vault.decrypt(code.code.ciphertext) for email, code in rows}


def mails(directory, kind: str) -> list[str]:
    return sorted(path.read_text() for path in directory.glob(f"*{kind}.eml")) if directory.exists() else []


def customer(email: str, **settings):
    user = create_user(db.session, email, PASSWORD, role="customer", name=email.split("@")[0].title())
    for name, value in settings.items():
        setattr(user, name, value)
    db.session.commit()
    return user


def test_a_redeemed_credit_code_is_confirmed_by_one_email(mail_app, outbox_dir):
    """Does the customer get one e-mail saying what the code added, and none for a refused second try?"""
    cara = customer("cara@example.com")
    campaign(kind="credit", currency="USD", value="5.00", code_mode="vanity", code="FREE5", uses_per_user="1")
    redeem_code(db.session, services().vault, cara, "FREE5")
    db.session.commit()
    with pytest.raises(AlreadyRedeemed):
        redeem_code(db.session, services().vault, cara, "FREE5")
    db.session.rollback()
    (mail,) = mails(outbox_dir, "code_redeemed")
    assert "Subject: Credit added to your wallet: Spring" in mail
    assert "5.00 USD was added to your wallet." in mail and "Code from:     Spring" in mail
    use_id = db.session.scalar(sa.select(CampaignUse.id))
    assert [row.key for row in outbox_rows("code_redeemed")] == [f"code_redeemed:{use_id}"]


def test_a_redeemed_feature_code_says_what_it_gives_and_until_when(mail_app, outbox_dir):
    cara = customer("cara@example.com")
    campaign(kind="feature", feature="plus", feature_days="30", feature_gives="Free delivery on every order",
             code_mode="vanity", code="PLUS30")
    until = redeem_code(db.session, services().vault, cara, "PLUS30").until
    db.session.commit()
    (mail,) = mails(outbox_dir, "code_redeemed")
    assert "Subject: Plus is unlocked: Spring" in mail
    assert "What it gives: Free delivery on every order" in mail
    assert f"Until:         {until.day} {until:%B %Y}" in mail


def test_a_customer_who_turned_receipts_off_gets_no_redemption_email(mail_app, outbox_dir):
    cara = customer("cara@example.com", receipts_by_email=False)
    campaign(kind="credit", currency="USD", value="5.00", code_mode="vanity", code="FREE5")
    redeem_code(db.session, services().vault, cara, "FREE5")
    db.session.commit()
    assert outbox_rows("code_redeemed") == []


def test_a_code_sent_by_email_is_reminded_once_a_week_before_it_stops_working(mail_app, outbox_dir):
    """Run the sweep three times: is every unused code reminded exactly once, in time, with the code itself,
    and is the customer who used theirs left alone?"""
    made = campaign(kind="credit", currency="USD", value="3.00", code_mode="random", code_prefix="HI", valid_days="10")
    codes = sent_to(made, ["ann@example.com", "bob@example.com", "cy@example.com"])
    redeem_code(db.session, services().vault, customer("ann@example.com"), codes["ann@example.com"])
    db.session.commit()
    now = utcnow()
    assert queue_code_reminders(db.session, now + timedelta(days=2)) == 0  # 8 days left: not yet
    assert run_expiry(now + timedelta(days=4))["reminders"] == 2
    assert run_expiry(now + timedelta(days=5))["reminders"] == 0
    assert queue_code_reminders(db.session, now + timedelta(days=11)) == 0  # ended: too late to remind
    reminders = outbox_rows("code_expiry_reminder")
    assert sorted(row.recipient for row in reminders) == ["bob@example.com", "cy@example.com"]
    ends = made.created_at + timedelta(days=10)
    sent = mails(outbox_dir, "code_expiry_reminder")
    assert len(sent) == 2
    for address in ("bob@example.com", "cy@example.com"):
        (mail,) = [m for m in sent if f"To: {address}" in m]
        assert f"Your code from Spring has not been used yet, and it stops working on {ends.day} {ends:%B %Y}." in mail
        assert f"Your code: {codes[address]}" in mail


def test_a_deleted_or_used_up_campaign_reminds_nobody(mail_app):
    made = campaign(kind="coupon", currency="USD", discount_type="percent", discount_value="10", code_mode="random",
                    code_prefix="C", valid_days="3")
    sent_to(made, ["ann@example.com"])
    made.deleted_at = utcnow()
    db.session.commit()
    assert queue_code_reminders(db.session) == 0
    made.deleted_at, made.max_uses, made.uses = None, 1, 1
    db.session.commit()
    assert queue_code_reminders(db.session) == 0
    made.max_uses = 2
    assert queue_code_reminders(db.session) == 1
