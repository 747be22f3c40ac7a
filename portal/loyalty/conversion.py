"""Loops turned into a new promotional card (DESIGN §2, Loops). Its own module because card
operations use the Loops balance (``points``) for Loops top-ups, and this uses card issuing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from portal.cards.codes import CodeVault
from portal.cards.operations import PROMOTIONAL_DEFAULT_DAYS, issued_from, new_card
from portal.errors import CurrencyMismatch, InsufficientFunds, ValidationError
from portal.ledger import Actor, fingerprint, replay, system_account
from portal.loyalty.points import loops_account, not_enough_loops, quote
from portal.models import Merchant, User
from portal.money import Money
from portal.programme import refuse_currency


def convert(
    session: Session,
    vault: CodeVault,
    customer: User,
    value: Money,
    *,
    actor: Actor,
    idempotency_key: str,
    merchant: Merchant | None = None,
    now: datetime | None = None,
):
    """Turn Loops into a new promotional card owned by the customer (scoped to the merchant if given).

    Returns an IssuedCard. Raise InsufficientFunds ("You have 420 Loops; this needs 500"),
    ValidationError if the user is not a customer, the value is in Loops or in a currency the
    programme does not allow, CurrencyMismatch if
    the merchant trades in another currency, IdempotencyConflict.
    """
    request = fingerprint("convert", customer.id, value.minor, value.currency, merchant.id if merchant else None)
    earlier = replay(session, actor, idempotency_key, request)
    if earlier is not None:
        return issued_from(session, vault, earlier)
    if customer.role != "customer":
        raise ValidationError("Only customers collect Loops", field="email")
    needed = quote(customer, value, merchant)
    if merchant is not None and merchant.currency != value.currency:
        raise CurrencyMismatch(f"{merchant.name} takes {merchant.currency}, not {value.currency}")
    refuse_currency(session, value.currency)
    loops = loops_account(session, customer)
    try:
        return new_card(
            session, vault, value=value, actor=actor, idempotency_key=idempotency_key, request_hash=request,
            funding=[
                (loops, -needed),
                (system_account(session, "points_pool", "LOOP"), needed),
                (system_account(session, "promotions", value.currency), -value.minor),
            ],
            owner_id=customer.id, scope_id=merchant.id if merchant else None, kind="promotional",
            days=PROMOTIONAL_DEFAULT_DAYS, transaction_kind="points_convert", now=now,
            memo=f"{needed} Loops for {value.display()}", merchant_id=merchant.id if merchant else None,
        )
    except InsufficientFunds:
        raise not_enough_loops(session, loops, needed) from None
