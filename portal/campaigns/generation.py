"""Bulk generation: codes (and promotional cards) inserted a batch at a time, set-based.

A million codes must be practical, so nothing here goes a row at a time: each batch is a few
multi-row statements (codes, then campaign_codes, streamed by COPY on PostgreSQL; for cards also
accounts, gift_cards, ledger transactions and entries) and one UPDATE of the promotions account. The ledger rows are the
ones ``portal.cards.operations.new_card`` would write — an ``issue`` transaction per card,
funded by the system promotions account — so ``portal ledger verify`` holds after every batch.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.bulk import add_rows, insert_rows
from portal.campaigns.codes import random_codes
from portal.campaigns.rules import check_quantity
from portal.cards.codes import CodeVault, generate_card_code
from portal.cards.operations import PROMOTIONAL_DEFAULT_DAYS
from portal.errors import ValidationError
from portal.ledger import Actor, audit, fingerprint, savepoint, system_account
from portal.models import Account, Code, Entry, GiftCard, Transaction, utcnow
from portal.models.campaigns import Campaign, CampaignCode, CampaignJob

BATCH = 5_000
_ATTEMPTS = 3  # a batch whose random code collides with a stored one is drawn again


def request_generation(
    session: Session, campaign: Campaign, quantity: object, *, actor: Actor, now: datetime | None = None
) -> CampaignJob:
    """Queue the generation of ``quantity`` codes (or cards) for the campaign; the job does the work.

    Raise ValidationError for a deleted campaign, a vanity campaign (its one code exists),
    a gift card campaign whose fixed expiry has passed, or a quantity outside 1 to 1,000,000.
    """
    now = now or utcnow()
    count = check_quantity(quantity)
    if campaign.deleted_at is not None:
        raise ValidationError("This campaign was deleted", field="quantity")
    if campaign.code_mode == "vanity" and campaign.kind != "gift_card":
        raise ValidationError(
            "A vanity campaign has its one shared code; create a random-code campaign for more", field="quantity"
        )
    if campaign.expires_at is not None and campaign.expires_at <= now:
        raise ValidationError("This campaign has expired; its codes would not work", field="quantity")
    job = CampaignJob(
        campaign_id=campaign.id, kind="generate", requested=count, created_by_id=actor.user_id, created_at=now
    )
    session.add(job)
    session.flush()
    audit(session, actor, "campaign.generation_requested", f"campaign:{campaign.id}", "", job_id=job.id, quantity=count)
    return job


def _insert(session: Session, model, rows: list[dict], *columns) -> list:
    """A multi-row INSERT returning ``columns`` in the order of ``rows``."""
    result = session.execute(sa.insert(model).returning(*columns, sort_by_parameter_order=True), rows)
    return list(result.scalars() if len(columns) == 1 else result)


def _fresh_codes(count: int, draw) -> list[str]:
    """``count`` distinct codes from ``draw(n)``, which makes n at a time."""
    codes: set[str] = set()
    while len(codes) < count:
        codes.update(draw(count - len(codes)))
    return list(codes)


def _store_codes(session: Session, vault: CodeVault, codes: list[str], now: datetime) -> list[int]:
    """Store the codes (keyed hash, ciphertext, mask); returns their ids in the order given."""
    # Sealed as they stream, so hashing and encryption overlap the database's inserting.
    rows = ((*sealed, now) for sealed in vault.seal_many(codes))
    return insert_rows(session, Code, ["lookup_hash", "ciphertext", "masked", "created_at"], rows, count=len(codes))


def _card_expiry(campaign: Campaign, now: datetime) -> datetime:
    if campaign.expires_at is not None:
        return campaign.expires_at
    return now + timedelta(days=campaign.valid_days or PROMOTIONAL_DEFAULT_DAYS)


def _issue_cards(session: Session, campaign: Campaign, code_ids: list[int], actor: Actor, now: datetime) -> list[int]:
    """Cards for stored codes, each with its account and its ``issue`` transaction; returns card ids."""
    value, currency = campaign.value, campaign.currency
    account_ids = _insert(
        session, Account,
        [
            {"key": f"card:pending:{code_id}", "kind": "card", "currency": currency, "balance": value, "created_at": now}
            for code_id in code_ids
        ],
        Account.id,
    )
    scope = campaign.merchants[0].id if campaign.merchants else None
    expires_at = _card_expiry(campaign, now)
    card_ids = _insert(
        session, GiftCard,
        [
            {
                "code_id": code_id, "account_id": account_id, "currency": currency, "merchant_id": scope,
                "network_id": campaign.network_id,
                "status": "active", "kind": "promotional", "expires_at": expires_at, "created_at": now,
            }
            for code_id, account_id in zip(code_ids, account_ids)
        ],
        GiftCard.id,
    )
    # The card's id names its account ("card:42"), as for a card issued one at a time.
    session.execute(
        sa.update(Account),
        [{"id": account_id, "key": f"card:{card_id}"} for account_id, card_id in zip(account_ids, card_ids)],
    )
    memo = f"Issued by campaign {campaign.name}"[:500]
    transaction_ids = _insert(
        session, Transaction,
        [
            {
                "kind": "issue", "actor": actor.key(), "idempotency_key": f"campaign:{campaign.id}:code:{code_id}",
                "request_hash": fingerprint("campaign_card", campaign.id, code_id, value, currency),
                "user_id": actor.user_id, "card_id": card_id, "memo": memo, "created_at": now,
            }
            for code_id, card_id in zip(code_ids, card_ids)
        ],
        Transaction.id,
    )
    promotions = system_account(session, "promotions", currency)
    entries = []
    for transaction_id, account_id in zip(transaction_ids, account_ids):
        for account, amount in ((account_id, value), (promotions.id, -value)):
            entries.append({"transaction_id": transaction_id, "account_id": account, "amount": amount, "currency": currency})
    session.execute(Entry.__table__.insert(), entries)
    balance = session.execute(
        sa.update(Account)
        .where(Account.id == promotions.id)
        .values(balance=Account.balance - value * len(card_ids))
        .returning(Account.balance),
        execution_options={"synchronize_session": False},
    ).scalar()
    set_committed_value(promotions, "balance", balance)
    return card_ids


def generate_batch(
    session: Session, vault: CodeVault, job: CampaignJob, count: int, *, now: datetime | None = None
) -> int:
    """Generate ``count`` more codes (cards for a gift card campaign) for the job and count them done.

    A collision with a stored code rolls the batch back and draws it again. Flushes, never commits.
    """
    now = now or utcnow()
    campaign = job.campaign
    actor = Actor(user_id=job.created_by_id)
    if campaign.kind == "gift_card":
        def draw(n: int) -> list[str]:
            return [generate_card_code() for _ in range(n)]
    else:
        def draw(n: int) -> list[str]:
            return random_codes(campaign.code_prefix, campaign.code_length, n)

    for attempt in range(_ATTEMPTS):
        nested = savepoint(session)
        try:
            code_ids = _store_codes(session, vault, _fresh_codes(count, draw), now)
            if campaign.kind == "gift_card":
                card_ids = _issue_cards(session, campaign, code_ids, actor, now)
            else:
                card_ids = [None] * count
            add_rows(
                session, CampaignCode, ["campaign_id", "code_id", "card_id", "uses"],
                [(campaign.id, code_id, card_id, 0) for code_id, card_id in zip(code_ids, card_ids)],
            )
            session.execute(
                sa.update(CampaignJob).where(CampaignJob.id == job.id).values(done=CampaignJob.done + count),
                execution_options={"synchronize_session": False},
            )
        except (IntegrityError, psycopg.IntegrityError):  # the second from COPY (portal.bulk)
            nested.rollback()
            if attempt == _ATTEMPTS - 1:
                raise
            continue
        nested.commit()
        break
    session.refresh(job, ["done"])
    return count
