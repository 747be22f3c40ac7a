"""Loops: earning them on purchases, spending them on gift cards or at a till (DESIGN §2, Loops)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from portal.errors import CurrencyMismatch, InsufficientFunds, ValidationError
from portal.ledger import (
    Actor, account_for, balance_of, fingerprint, post_or_replay, replay, settlement_account, system_account,
)
from portal.loyalty.tiers import tier_for
from portal.models import Account, Merchant, Transaction, User
from portal.money import Money, exponent


def loops_account(session: Session, user: User) -> Account:
    """The user's Loops, created on first use."""
    return account_for(session, f"loops:{user.id}", "loops", "LOOP", owner_id=user.id)


def loops_for_purchase(purchase: Money, merchant: Merchant) -> int:
    """Loops a purchase earns: the merchant's rate per whole 1.00, rounded down."""
    return purchase.minor * merchant.loops_per_unit // 10 ** exponent(purchase.currency)


def bump_lifetime_loops(session: Session, user_id: int, delta: int) -> None:
    """Change a user's lifetime Loops (which set the tier) in one statement, never below zero."""
    column = User.lifetime_loops
    new = session.execute(
        sa.update(User)
        .where(User.id == user_id)
        .values(lifetime_loops=sa.case((column + delta >= 0, column + delta), else_=0))
        .returning(User.lifetime_loops),
        execution_options={"synchronize_session": False},
    ).scalar()
    loaded = session.identity_map.get(identity_key(User, user_id))
    if loaded is not None:
        set_committed_value(loaded, "lifetime_loops", new)


def earn(
    session: Session, customer: User, purchase: Money, merchant: Merchant, *, actor: Actor, idempotency_key: str
) -> Transaction:
    """Award Loops for a purchase from the points pool; lifetime Loops grow in the same transaction.

    Raise ValidationError if the user is not a customer or the purchase earns no Loops,
    CurrencyMismatch if the purchase is not in the merchant's currency, IdempotencyConflict.
    """
    request = fingerprint("earn", customer.id, purchase.minor, purchase.currency, merchant.id)
    earlier = replay(session, actor, idempotency_key, request)
    if earlier is not None:
        return earlier
    if customer.role != "customer":
        raise ValidationError("Only customers collect Loops", field="email")
    if purchase.currency != merchant.currency:
        raise CurrencyMismatch(f"{merchant.name} trades in {merchant.currency}, not {purchase.currency}")
    loops = loops_for_purchase(purchase, merchant)
    if loops <= 0:
        raise ValidationError("This purchase is too small to earn Loops", field="amount")
    transaction, replayed = post_or_replay(
        session, kind="points_earn", actor=actor, idempotency_key=idempotency_key, request_hash=request,
        legs=[(system_account(session, "points_pool", "LOOP"), -loops), (loops_account(session, customer), loops)],
        merchant_id=merchant.id, memo=f"{loops} Loops for {purchase.display()} at {merchant.name}",
    )
    if not replayed:
        bump_lifetime_loops(session, customer.id, loops)
    return transaction


def conversion_rate(customer: User, merchant: Merchant | None = None) -> int:
    """Loops per 1.00 of card value: the merchant's own rate for its cards, else the customer's tier rate."""
    if merchant is not None and merchant.conversion_rate:
        return merchant.conversion_rate
    return tier_for(customer.lifetime_loops).loops_per_unit


def quote(customer: User, value: Money, merchant: Merchant | None = None) -> int:
    """Loops needed for this much card value, rounded up (a card is never sold below the rate)."""
    if value.currency == "LOOP":
        raise ValidationError("A gift card holds money, not Loops", field="currency")
    units = 10 ** exponent(value.currency)
    return -(-value.minor * conversion_rate(customer, merchant) // units)


def not_enough_loops(session: Session, account: Account, needed: int) -> InsufficientFunds:
    """The refusal a customer reads when their Loops fall short."""
    have = balance_of(session, account.id)
    return InsufficientFunds(f"You have {Money(have, 'LOOP').display()}; this needs {needed}")


def loops_value(loops: int, rate: int, currency: str) -> Money:
    """What whole Loops pay at ``rate`` Loops per 1.00, rounded down to the minor unit."""
    return Money(loops * 10 ** exponent(currency) // rate, currency)


def pay_with_loops(
    session: Session,
    customer: User,
    loops: int,
    merchant: Merchant,
    *,
    up_to: Money,
    actor: Actor,
    idempotency_key: str,
    reference: str | None = None,
) -> Transaction:
    """Take whole Loops off a purchase at a merchant's counter, at the rate of a conversion.

    The Loops go back to the points pool and their worth (never more than ``up_to``, what is
    still due) goes from promotions to the merchant's settlement, as a card payment does.
    Raise ValidationError for fewer than one Loop or too few to pay 0.01, InsufficientFunds
    ("You have 420 Loops; this needs 500"), CurrencyMismatch, IdempotencyConflict.
    """
    request = fingerprint("pay_with_loops", customer.id, loops, merchant.id, up_to.minor, up_to.currency, reference)
    earlier = replay(session, actor, idempotency_key, request)
    if earlier is not None:
        return earlier
    if customer.role != "customer":
        raise ValidationError("Only customers collect Loops", field="loops")
    if up_to.currency != merchant.currency:
        raise CurrencyMismatch(f"{merchant.name} takes {merchant.currency}, not {up_to.currency}")
    if type(loops) is not int or loops <= 0:
        raise ValidationError("Give a whole number of Loops", field="loops")
    rate = conversion_rate(customer, merchant)
    value = min(loops_value(loops, rate, merchant.currency), up_to)
    if value.minor <= 0:
        raise ValidationError(f"That is too few Loops to pay anything here: {rate} Loops make 1.00", field="loops")
    account = loops_account(session, customer)
    try:
        transaction, _ = post_or_replay(
            session, kind="redeem", actor=actor, idempotency_key=idempotency_key, request_hash=request,
            legs=[
                (account, -loops),
                (system_account(session, "points_pool", "LOOP"), loops),
                (system_account(session, "promotions", value.currency), -value.minor),
                (settlement_account(session, merchant.id, value.currency), value.minor),
            ],
            merchant_id=merchant.id, reference=reference, memo=f"{loops} Loops for {value.display()} at {merchant.name}",
        )
    except InsufficientFunds:
        raise not_enough_loops(session, account, loops) from None
    return transaction
