"""What the admin pages read: look-ups, lists and filters, in as few queries as a page needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from portal.cards.codes import CodeVault, QrTokens
from portal.cards.lookup import find_card
from portal.errors import NotFound, ValidationError
from portal.merchants import by_slug
from portal.models import AuditEvent, Code, GiftCard, Merchant, SecurityEvent, User
from portal.models.campaigns import Campaign, CampaignCode, CampaignJob, CampaignRecipient
from portal.models.outbox import OutboxMessage

PAGE = 50


@dataclass
class Page:
    """One page of a long list, and where the neighbours are."""

    items: list
    number: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE))

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and 0 < int(text) < 1_000_000 else 1


def paginate(session: Session, query: sa.Select, number: int, *, rows: bool = False) -> Page:
    """One page of ``query``: its first column's objects, or with ``rows`` its whole rows."""
    total = session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    result = session.execute(query.limit(PAGE).offset((number - 1) * PAGE))
    items = result.all() if rows else result.scalars().all()
    return Page(list(items), number, total or 0)


# --- Campaigns -------------------------------------------------------------------------------


def campaigns(session: Session) -> list[Campaign]:
    """Every campaign not deleted, newest first."""
    return list(session.scalars(sa.select(Campaign).where(Campaign.deleted_at.is_(None)).order_by(Campaign.id.desc())))


def campaign(session: Session, campaign_id: int) -> Campaign:
    """Raise NotFound for an unknown or deleted campaign."""
    found = session.get(Campaign, campaign_id)
    if found is None or found.deleted_at is not None:
        raise NotFound("No campaign has that number")
    return found


def jobs(session: Session, campaign_id: int) -> list[CampaignJob]:
    return list(
        session.scalars(
            sa.select(CampaignJob).where(CampaignJob.campaign_id == campaign_id).order_by(CampaignJob.id.desc()).limit(20)
        )
    )


def job(session: Session, campaign_id: int, job_id: int) -> CampaignJob:
    found = session.get(CampaignJob, job_id, populate_existing=True)
    if found is None or found.campaign_id != campaign_id:
        raise NotFound("No job has that number")
    return found


@dataclass
class RecipientLine:
    email: str
    code_masked: str | None
    status: str


def recipients(session: Session, campaign_id: int, number: int) -> Page:
    """The campaign's e-mail list, with the masked code each was given and their e-mail's status."""
    query = (
        sa.select(CampaignRecipient.email, Code.masked, OutboxMessage.status)
        .select_from(CampaignRecipient)
        .outerjoin(CampaignCode, CampaignCode.id == CampaignRecipient.campaign_code_id)
        .outerjoin(Code, Code.id == CampaignCode.code_id)
        .outerjoin(OutboxMessage, OutboxMessage.id == CampaignRecipient.outbox_id)
        .where(CampaignRecipient.campaign_id == campaign_id)
        .order_by(CampaignRecipient.id)
    )
    total = session.scalar(
        sa.select(sa.func.count(CampaignRecipient.id)).where(CampaignRecipient.campaign_id == campaign_id)
    )
    rows = session.execute(query.limit(PAGE).offset((number - 1) * PAGE)).all()
    shown = {"sent": "sent", "failed": "failed"}
    items = [RecipientLine(email, masked, shown.get(status, "queued")) for email, masked, status in rows]
    return Page(items, number, total or 0)


def recipient_counts(session: Session, campaign_id: int) -> dict[str, int]:
    """Recipients by the state of their e-mail: queued, sent, failed."""
    state = sa.case(
        (OutboxMessage.status == "sent", "sent"), (OutboxMessage.status == "failed", "failed"), else_="queued"
    )
    rows = session.execute(
        sa.select(state, sa.func.count(CampaignRecipient.id))
        .select_from(CampaignRecipient)
        .outerjoin(OutboxMessage, OutboxMessage.id == CampaignRecipient.outbox_id)
        .where(CampaignRecipient.campaign_id == campaign_id)
        .group_by(state)
    )
    counts = {"queued": 0, "sent": 0, "failed": 0}
    counts.update({name: int(count) for name, count in rows})
    return counts


# --- Cards -----------------------------------------------------------------------------------


def find_cards(session: Session, vault: CodeVault, qr: QrTokens, by: str, text: str, number: int = 1) -> Page:
    """Cards by code (any spelling or QR token), by their owner's e-mail (part of it will do), or by campaign.

    Raise ValidationError for a malformed code or an unknown campaign, NotFound for a code no card has.
    """
    text = (text or "").strip()
    if not text:
        raise ValidationError("Type what to look for", field="q")
    if by == "code":
        card = find_card(session, text, vault, qr)
        return Page([card], 1, 1)
    if by == "email":
        query = (
            sa.select(GiftCard).join(User, User.id == GiftCard.owner_id)
            .where(User.email.contains(text.lower(), autoescape=True)).order_by(GiftCard.id)
        )
        return paginate(session, query, number)
    if by == "campaign":
        found = _campaign_by_text(session, text)
        query = (
            sa.select(GiftCard).join(CampaignCode, CampaignCode.card_id == GiftCard.id)
            .where(CampaignCode.campaign_id == found.id).order_by(GiftCard.id)
        )
        return paginate(session, query, number)
    raise ValidationError("Find cards by code, owner's e-mail or campaign", field="by")


def _campaign_by_text(session: Session, text: str) -> Campaign:
    """A campaign by its number or its exact name."""
    found = session.get(Campaign, int(text)) if text.isdigit() else session.scalar(
        sa.select(Campaign).where(sa.func.lower(Campaign.name) == text.lower()).limit(1)
    )
    if found is None:
        raise ValidationError("No campaign has that number or name", field="q")
    return found


def card(session: Session, card_id: int) -> GiftCard:
    found = session.get(GiftCard, card_id)
    if found is None:
        raise NotFound("No card has that number")
    return found


def card_campaign(session: Session, card_id: int) -> Campaign | None:
    return session.scalar(
        sa.select(Campaign).join(CampaignCode, CampaignCode.campaign_id == Campaign.id).where(CampaignCode.card_id == card_id)
    )


# --- Audit -----------------------------------------------------------------------------------


def _day(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError("Give a date like 2027-03-31", field=field) from None


def audit_events(session: Session, *, action=None, actor=None, target=None, since=None, until=None, number=1) -> Page:
    """Audit events newest first, narrowed by action, actor's e-mail, target and a range of days (UTC).

    Raise ValidationError for a malformed date.
    """
    who = aliased(User)
    query = (
        sa.select(AuditEvent)
        .outerjoin(who, who.id == AuditEvent.actor_id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    )
    if action:
        query = query.where(AuditEvent.action == action)
    if actor:
        query = query.where(who.email.contains(actor.strip().lower(), autoescape=True))
    if target:
        query = query.where(AuditEvent.target.contains(target.strip(), autoescape=True))
    if first := _day(since, "since"):
        query = query.where(AuditEvent.at >= datetime.combine(first, time(), timezone.utc))
    if last := _day(until, "until"):
        query = query.where(AuditEvent.at < datetime.combine(last + timedelta(days=1), time(), timezone.utc))
    return paginate(session, query, number)


def audit_actions(session: Session) -> list[str]:
    return list(session.scalars(sa.select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def actors(session: Session, ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(sa.select(User).where(User.id.in_(ids)))}


# --- Merchants and people ----------------------------------------------------------------------


def merchants(session: Session) -> list[tuple[Merchant, int]]:
    """Every merchant with its number of staff."""
    staff = sa.func.count(User.id)
    rows = session.execute(
        sa.select(Merchant, staff)
        .outerjoin(User, User.merchant_id == Merchant.id)
        .group_by(Merchant.id)
        .order_by(Merchant.name)
    )
    return [(merchant, int(count)) for merchant, count in rows]


def merchant(session: Session, slug: str) -> Merchant:
    found = by_slug(session, slug)
    if found is None:
        raise NotFound("No merchant has that slug")
    return found


def staff_of(session: Session, merchant_id: int) -> list[User]:
    return list(session.scalars(sa.select(User).where(User.merchant_id == merchant_id).order_by(User.email)))


def people(session: Session, *, role: str | None, text: str | None, number: int) -> Page:
    query = sa.select(User).order_by(User.email)
    if role:
        query = query.where(User.role == role)
    if text:
        query = query.where(
            sa.or_(User.email.contains(text.lower(), autoescape=True), User.name.contains(text, autoescape=True))
        )
    return paginate(session, query, number)


def person(session: Session, user_id: int) -> User:
    found = session.get(User, user_id)
    if found is None:
        raise NotFound("No user has that number")
    return found


# --- Overview ----------------------------------------------------------------------------------


def headcounts(session: Session) -> dict[str, int]:
    """People per role, and merchants."""
    counts = dict(session.execute(sa.select(User.role, sa.func.count(User.id)).group_by(User.role)).all())
    counts = {role: int(counts.get(role, 0)) for role in ("customer", "merchant", "admin")}
    counts["merchants"] = int(session.scalar(sa.select(sa.func.count(Merchant.id))) or 0)
    return counts


def security_events(session: Session, limit: int = 20) -> list:
    newest = sa.select(SecurityEvent).order_by(SecurityEvent.at.desc(), SecurityEvent.id.desc()).limit(limit)
    return list(session.scalars(newest))


def failed_jobs(session: Session, limit: int = 20) -> list[CampaignJob]:
    return list(
        session.scalars(
            sa.select(CampaignJob).where(CampaignJob.status == "failed").order_by(CampaignJob.id.desc()).limit(limit)
        )
    )
