"""E-mailing a campaign to a list of addresses: one code (or card) per address, through the outbox.

``add_recipients`` records the list and queues a job; the job's ``send_batch`` gives each
recipient the next unused code and writes their e-mail into the outbox in the same
transaction (``portal.notifications.outbox.queue_email``), so a code is never given twice and
an e-mail is never lost between the two. Each recipient's status is their outbox row's.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.campaigns.rules import code_expiry, describe_value
from portal.campaigns.uses import INSERTS
from portal.cards.codes import CodeVault
from portal.cards.lookup import long_date
from portal.emails import normalise_email
from portal.errors import ValidationError
from portal.ledger import Actor, audit
from portal.models import Code, utcnow
from portal.models.campaigns import Campaign, CampaignCode, CampaignJob, CampaignRecipient
from portal.models.outbox import OutboxMessage
from portal.notifications.outbox import queue_email

MAX_RECIPIENTS = 100_000
MAX_UPLOAD = 10 * 1024 * 1024


def read_addresses(data: bytes) -> tuple[list[str], list[str]]:
    """The distinct e-mail addresses in an uploaded CSV (any column), and the cells that looked like one but were not.

    Raise ValidationError for an empty, oversized or undecodable file.
    """
    if not data:
        raise ValidationError("Choose a CSV file with one e-mail address per line", field="addresses")
    if len(data) > MAX_UPLOAD:
        raise ValidationError("The file is larger than 10 MB; split it into smaller lists", field="addresses")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("The file is not UTF-8 text; save it as CSV (UTF-8)", field="addresses") from None
    found: dict[str, None] = {}
    bad: list[str] = []
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            if "@" not in cell:
                continue
            try:
                found[normalise_email(cell)] = None
            except ValidationError:
                bad.append(cell.strip()[:80])
    if not found:
        raise ValidationError("No e-mail addresses were found in the file", field="addresses")
    if len(found) > MAX_RECIPIENTS:
        raise ValidationError(f"Send to at most {MAX_RECIPIENTS:,} addresses at a time", field="addresses")
    return list(found), bad


def _unassigned(campaign_id: int):
    """Codes of the campaign that nobody was sent and nobody has used."""
    taken = sa.select(CampaignRecipient.campaign_code_id).where(
        CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.campaign_code_id.is_not(None)
    )
    return sa.select(CampaignCode.id).where(
        CampaignCode.campaign_id == campaign_id, CampaignCode.uses == 0, CampaignCode.id.not_in(taken)
    )


def codes_left(session: Session, campaign: Campaign) -> int | None:
    """How many more people can be sent a code (None: a vanity code, shared by everyone)."""
    if campaign.code_mode == "vanity" and campaign.kind != "gift_card":
        return None
    return session.scalar(sa.select(sa.func.count()).select_from(_unassigned(campaign.id).subquery()))


def add_recipients(
    session: Session, campaign: Campaign, addresses: list[str], *, actor: Actor, now: datetime | None = None
) -> CampaignJob | None:
    """Record who to e-mail (addresses already on the list are skipped) and queue the sending job.

    Returns None when every address was already on the list. Raise ValidationError for a
    deleted or expired campaign, or when fewer unused codes are left than new addresses.
    """
    now = now or utcnow()
    if campaign.deleted_at is not None:
        raise ValidationError("This campaign was deleted", field="addresses")
    if campaign.expires_at is not None and campaign.expires_at <= now:
        raise ValidationError("This campaign has expired; its codes would not work", field="addresses")
    listed = set(
        session.scalars(sa.select(CampaignRecipient.email).where(CampaignRecipient.campaign_id == campaign.id))
    )
    new = [address for address in addresses if address not in listed]
    if not new:
        return None
    left = codes_left(session, campaign)
    if left is not None and left < len(new):
        raise ValidationError(
            f"Only {left:,} unused codes are left for {len(new):,} new addresses; generate more first",
            field="addresses",
        )
    job = CampaignJob(
        campaign_id=campaign.id, kind="email", requested=len(new), created_by_id=actor.user_id, created_at=now
    )
    session.add(job)
    session.flush()
    insert = INSERTS[session.connection().dialect.name]
    session.execute(
        insert(CampaignRecipient.__table__).on_conflict_do_nothing(index_elements=["campaign_id", "email"]),
        [{"campaign_id": campaign.id, "job_id": job.id, "email": address, "created_at": now} for address in new],
    )
    audit(session, actor, "campaign.emailed", f"campaign:{campaign.id}", "", job_id=job.id, recipients=len(new))
    return job


def send_batch(session: Session, vault: CodeVault, job: CampaignJob, count: int, *, now: datetime | None = None) -> int:
    """Give the next ``count`` recipients of the job a code and queue their e-mails. Flushes, never commits."""
    campaign = job.campaign
    waiting = session.scalars(
        sa.select(CampaignRecipient)
        .where(CampaignRecipient.job_id == job.id, CampaignRecipient.outbox_id.is_(None))
        .order_by(CampaignRecipient.id)
        .limit(count)
    ).all()
    shared = campaign.code_mode == "vanity" and campaign.kind != "gift_card"
    if shared:
        one = session.scalar(sa.select(CampaignCode).where(CampaignCode.campaign_id == campaign.id).limit(1))
        codes = [one] * len(waiting)
    else:
        ids = session.scalars(_unassigned(campaign.id).order_by(CampaignCode.id).limit(len(waiting))).all()
        codes = session.scalars(sa.select(CampaignCode).where(CampaignCode.id.in_(ids)).order_by(CampaignCode.id)).all()
        if len(codes) < len(waiting):
            raise ValidationError("The campaign ran out of unused codes; generate more and resume")
    what = describe_value(campaign)
    for recipient, code in zip(waiting, codes):
        stored: Code = code.code
        ends = code_expiry(campaign, stored.created_at) if campaign.kind != "gift_card" else None
        key = f"campaign:{campaign.id}:recipient:{recipient.id}"
        outbox_id = queue_email(
            session, key=key, to=recipient.email, kind="campaign_code",
            context={"campaign": campaign.name, "campaign_kind": campaign.kind, "what": what,
                     "expires": long_date(ends) if ends else None},
            card_id=code.card_id, code=vault.decrypt(stored.ciphertext),
        )
        if outbox_id is None:  # queued before (a retried batch): the row is there under its key
            outbox_id = session.scalar(sa.select(OutboxMessage.id).where(OutboxMessage.key == key))
        recipient.campaign_code_id, recipient.outbox_id = code.id, outbox_id
    session.execute(
        sa.update(CampaignJob).where(CampaignJob.id == job.id).values(done=CampaignJob.done + len(waiting)),
        execution_options={"synchronize_session": False},
    )
    session.flush()
    session.refresh(job, ["done"])
    return len(waiting)
