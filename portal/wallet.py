"""Wallet credit: money a customer holds with Giftloop, per currency (goodwill, credit codes),
spent on gifts or at a merchant's till."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.errors import CurrencyMismatch, InsufficientFunds, ValidationError
from portal.ledger import (
    Actor, account_for, audit, balance_of, fingerprint, post_or_replay, replay, required_reason, settlement_account,
    system_account,
)
from portal.models import Account, Merchant, Transaction, User
from portal.money import Money


def wallet_account(session: Session, user: User, currency: str) -> Account:
    """The user's wallet in this currency, created on first use."""
    return account_for(session, f"wallet:{user.id}:{currency}", "wallet", currency, owner_id=user.id)


def credit_wallet(
    session: Session, user: User, amount: Money, *, actor: Actor, idempotency_key: str, reason: str
) -> Transaction:
    """Add credit to a customer's wallet from the promotions account, audited.

    Raise ValidationError if the reason is blank, the amount is in Loops, or the user is not a
    customer; IdempotencyConflict if the key was used for another request.
    """
    reason = required_reason(reason)
    request = fingerprint("credit_wallet", user.id, amount.minor, amount.currency, reason)
    earlier = replay(session, actor, idempotency_key, request)
    if earlier is not None:
        return earlier
    if amount.currency == "LOOP":
        raise ValidationError("Wallet credit is money, not Loops", field="currency")
    if amount.minor <= 0:
        raise ValidationError("The amount must be more than zero", field="amount")
    if user.role != "customer":
        raise ValidationError("Only customers have a wallet", field="email")
    source = system_account(session, "promotions", amount.currency)
    wallet = wallet_account(session, user, amount.currency)
    transaction, replayed = post_or_replay(
        session, kind="credit_code", actor=actor, idempotency_key=idempotency_key, request_hash=request,
        legs=[(source, -amount.minor), (wallet, amount.minor)], memo=reason,
    )
    if not replayed:
        audit(session, actor, "wallet.credited", f"user:{user.id}", reason, amount=str(amount), currency=amount.currency)
        session.flush()
    return transaction


def pay_from_wallet(
    session: Session, user: User, amount: Money, merchant: Merchant, *, actor: Actor, idempotency_key: str,
    reference: str | None = None,
) -> Transaction:
    """Pay part of a purchase at a merchant's counter with wallet credit in the merchant's currency.

    The credit goes to the merchant's settlement account, as a card payment does; the wallet's
    limit is in the UPDATE itself. Raise ValidationError for nothing to pay or a user who is not
    a customer, CurrencyMismatch for another currency, InsufficientFunds ("The wallet holds …"),
    IdempotencyConflict.
    """
    request = fingerprint("pay_from_wallet", user.id, amount.minor, amount.currency, merchant.id, reference)
    earlier = replay(session, actor, idempotency_key, request)
    if earlier is not None:
        return earlier
    if amount.currency != merchant.currency:
        raise CurrencyMismatch(f"{merchant.name} takes {merchant.currency}, not {amount.currency}")
    if amount.minor <= 0:
        raise ValidationError("The amount must be more than zero", field="amount")
    if user.role != "customer":
        raise ValidationError("Only customers have a wallet", field="amount")
    wallet = wallet_account(session, user, amount.currency)
    try:
        transaction, _ = post_or_replay(
            session, kind="redeem", actor=actor, idempotency_key=idempotency_key, request_hash=request,
            legs=[(wallet, -amount.minor), (settlement_account(session, merchant.id, amount.currency), amount.minor)],
            merchant_id=merchant.id, reference=reference, memo=f"Paid {amount.display()} from wallet credit at {merchant.name}",
        )
    except InsufficientFunds:
        held = Money(balance_of(session, wallet.id), amount.currency)
        raise InsufficientFunds(f"The wallet holds {held.display()}; {amount.display()} is more than that", field="amount") from None
    return transaction
