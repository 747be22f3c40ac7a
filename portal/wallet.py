"""Wallet credit: money a customer holds with Giftloop, per currency (goodwill, credit codes)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.errors import ValidationError
from portal.ledger import Actor, account_for, audit, fingerprint, post_or_replay, replay, required_reason, system_account
from portal.models import Account, Transaction, User
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
