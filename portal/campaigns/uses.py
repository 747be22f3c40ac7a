"""Counting a use: the campaign's total, the code's and the customer's, each in one guarded UPDATE.

A limit of N stops at exactly N under any concurrency: ``UPDATE … SET uses = uses + 1 WHERE
uses < limit RETURNING`` takes the row lock, and a transaction that waited on it re-reads the
row before deciding (PostgreSQL re-checks the WHERE on the newest version).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.campaigns.rules import (
    ALREADY_USED, USED_UP, customer_record, customer_refusal, limited_per_customer, single_use,
)
from portal.errors import AlreadyRedeemed, UsageLimitReached
from portal.ledger import savepoint
from portal.models import utcnow
from portal.models.campaigns import Campaign, CampaignCode, CampaignCustomer, CampaignUse

INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_ignoring_conflict(session: Session, model, index_elements: list[str], **values) -> None:
    """INSERT … ON CONFLICT DO NOTHING, in the session's own dialect."""
    insert = INSERTS[session.connection().dialect.name]
    session.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=index_elements))


def _bump(session: Session, statement) -> int | None:
    return session.execute(statement, execution_options={"synchronize_session": False}).scalar()


def count_use(
    session: Session,
    campaign: Campaign,
    code: CampaignCode,
    *,
    channel: str,
    email: str | None = None,
    user_id: int | None = None,
    merchant_id: int | None = None,
    currency: str | None = None,
    order_total: int | None = None,
    discount: int | None = None,
    reference: str | None = None,
    now: datetime | None = None,
) -> CampaignUse:
    """Count one use and record it; on any refusal nothing is counted.

    Rows are locked in one order (campaign, code, customer) so two uses never wait in a circle.
    Raise UsageLimitReached when the campaign's total is spent or ``discount`` would take the
    customer past the campaign's maximum discount per customer, AlreadyRedeemed when a
    single-use code was used or the customer has had all their uses.
    """
    now = now or utcnow()
    nested = savepoint(session)
    try:
        total = _bump(
            session,
            sa.update(Campaign)
            .where(Campaign.id == campaign.id, sa.or_(Campaign.max_uses.is_(None), Campaign.uses < Campaign.max_uses))
            .values(uses=Campaign.uses + 1)
            .returning(Campaign.uses),
        )
        if total is None:
            raise UsageLimitReached(USED_UP, field="code")
        on_code = _bump(
            session,
            sa.update(CampaignCode)
            .where(CampaignCode.id == code.id, CampaignCode.uses == 0 if single_use(campaign) else sa.true())
            .values(uses=CampaignCode.uses + 1)
            .returning(CampaignCode.uses),
        )
        if on_code is None:
            raise AlreadyRedeemed(ALREADY_USED, field="code")
        if limited_per_customer(campaign):
            email = (email or "").lower()
            insert_ignoring_conflict(
                session, CampaignCustomer, ["campaign_id", "email"], campaign_id=campaign.id, email=email, uses=0,
                discounted=0,
            )
            given = discount or 0
            within = [CampaignCustomer.campaign_id == campaign.id, CampaignCustomer.email == email]
            if campaign.uses_per_user is not None:
                within.append(CampaignCustomer.uses < campaign.uses_per_user)
            if campaign.max_discount_per_customer is not None:
                # The cap is checked on the row as it is when this UPDATE holds its lock, not as read
                # before; a customer at the cap gets no use at all, not one of no discount (a till that
                # read the record before another took the last of the cap asks for nothing).
                within.append(CampaignCustomer.discounted < campaign.max_discount_per_customer)
                within.append(CampaignCustomer.discounted + given <= campaign.max_discount_per_customer)
            mine = _bump(
                session,
                sa.update(CampaignCustomer)
                .where(*within)
                .values(uses=CampaignCustomer.uses + 1, discounted=CampaignCustomer.discounted + given)
                .returning(CampaignCustomer.uses),
            )
            if mine is None:
                uses, discounted = customer_record(session, campaign, email)
                # Past either limit now; a discount that no longer fits under the cap is refused as the cap.
                raise customer_refusal(campaign, uses, discounted + given)
        use = CampaignUse(
            campaign_id=campaign.id, campaign_code_id=code.id, user_id=user_id, email=email.lower() if email else None,
            merchant_id=merchant_id, channel=channel, currency=currency, order_total=order_total, discount=discount,
            reference=reference, created_at=now,
        )
        session.add(use)
        session.flush()
    except BaseException:
        nested.rollback()
        raise
    nested.commit()
    # Keep the loaded objects in step without marking them changed.
    set_committed_value(campaign, "uses", total)
    set_committed_value(code, "uses", on_code)
    return use
