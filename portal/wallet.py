"""Wallet credit: money a customer holds with Giftloop, per currency (goodwill, credit codes),
spent on gifts or at a merchant's till."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.errors import CurrencyMismatch, DomainError, InsufficientFunds, ValidationError
from portal.events.deliveries import remember as relay_deliveries
from portal.events.payloads import checked
from portal.ledger import (
    Actor, account_for, audit, balance_of, fingerprint, post_or_replay, replay, required_reason, settlement_account,
    system_account,
)
from portal.ledger.in_database import call, earlier_answer, in_one_call
from portal.ledger.posting import attach_posted, set_loaded_balance, transaction_values
from portal.models import Account, Merchant, Transaction, User, utcnow
from portal.money import Money, exponent


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
    memo = f"Paid {amount.display()} from wallet credit at {merchant.name}"
    if in_one_call(session):
        try:
            _check_payment(user, amount, merchant)
        except DomainError:
            pass  # refused below as always, after the replay look-up
        else:
            return _pay_in_one_call(
                session, user, amount, merchant, actor=actor, idempotency_key=idempotency_key, request_hash=request,
                memo=memo, reference=reference,
            )
    earlier = replay(session, actor, idempotency_key, request)
    if earlier is not None:
        return earlier
    _check_payment(user, amount, merchant)
    wallet = wallet_account(session, user, amount.currency)
    try:
        transaction, _ = post_or_replay(
            session, kind="redeem", actor=actor, idempotency_key=idempotency_key, request_hash=request,
            legs=[(wallet, -amount.minor), (settlement_account(session, merchant.id, amount.currency), amount.minor)],
            merchant_id=merchant.id, reference=reference, memo=memo,
        )
    except InsufficientFunds:
        raise _short(amount, balance_of(session, wallet.id)) from None
    return transaction


def _check_payment(user: User, amount: Money, merchant: Merchant) -> None:
    """The rules a wallet payment's request must meet, whatever the wallet holds."""
    if amount.currency != merchant.currency:
        raise CurrencyMismatch(f"{merchant.name} takes {merchant.currency}, not {amount.currency}")
    if amount.minor <= 0:
        raise ValidationError("The amount must be more than zero", field="amount")
    if user.role != "customer":
        raise ValidationError("Only customers have a wallet", field="amount")


def _short(amount: Money, held: int) -> InsufficientFunds:
    return InsufficientFunds(
        f"The wallet holds {Money(held, amount.currency).display()}; {amount.display()} is more than that",
        field="amount",
    )


def _pay_in_one_call(
    session: Session, user: User, amount: Money, merchant: Merchant, *, actor: Actor, idempotency_key: str,
    request_hash: str, memo: str, reference: str | None,
) -> Transaction:
    """``pay_from_wallet`` as one call of giftloop_pay_from_wallet (``portal.ledger.in_database``).
    Raise ValueError for a full card code in ``reference``, as the event's ``record`` does."""
    checked({"reference": reference})
    written_at = utcnow()
    row = call(session, "giftloop_pay_from_wallet", [
        ("user_id", "bigint", user.id), ("amount", "bigint", amount.minor), ("currency", "text", amount.currency),
        ("exponent", "int", exponent(amount.currency)), ("merchant_id", "bigint", merchant.id), ("memo", "text", memo),
        ("reference", "text", reference), ("actor", "text", actor.key()), ("actor_user_id", "bigint", actor.user_id),
        ("token_id", "bigint", actor.token_id), ("key", "text", idempotency_key), ("request_hash", "text", request_hash),
        ("written_at", "timestamptz", written_at),
    ])
    if row.outcome != "paid":  # replay or insufficient
        if (earlier := earlier_answer(session, actor, idempotency_key, request_hash, row.outcome)) is not None:
            return earlier
        raise _short(amount, row.wallet_balance)
    set_loaded_balance(session, row.wallet_id, row.wallet_balance)
    set_loaded_balance(session, row.payee_id, row.payee_balance)
    values = transaction_values(
        actor, kind="redeem", idempotency_key=idempotency_key, request_hash=request_hash, memo=memo, card_id=None,
        merchant_id=merchant.id, reference=reference, reverses_id=None, created_at=written_at,
    )
    entry = {"transaction_id": row.new_transaction_id, "currency": amount.currency}
    wallet_entry, payee_entry = row.entry_ids
    transaction = attach_posted(session, row.new_transaction_id, values, [
        (wallet_entry, {**entry, "account_id": row.wallet_id, "amount": -amount.minor}, None),
        (payee_entry, {**entry, "account_id": row.payee_id, "amount": amount.minor}, None),
    ])
    relay_deliveries(session, list(row.delivery_ids or []))
    return transaction
