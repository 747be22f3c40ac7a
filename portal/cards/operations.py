"""What can happen to a gift card's value: issue, redeem, load, reverse, adjust, freeze, cancel.

Every function takes the session first and flushes, never commits. Anything that moves money
takes a keyword-only actor and idempotency key: the same request again returns the first result,
another request under the same key raises IdempotencyConflict.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.cards.codes import CodeVault, generate_card_code
from portal.cards.lookup import NO_SUCH_CARD, CardName, lock_card, lock_card_and_read, locked_balance, usable_at
from portal.cards.in_database import NamedPayment, load_cash, pay, pay_named
from portal.cards.ownership import changed_hands
from portal.cards.transfers import end_pending, held_subquery
from portal.events import kinds as events
from portal.errors import (
    AlreadyRedeemed, CardCancelled, CardExpired, CurrencyMismatch, DomainError, Forbidden,
    InsufficientFunds, LimitExceeded, NotFound, ValidationError,
)
from portal.ledger import (
    SYSTEM, Actor, audit, balance_of, fingerprint, post_or_replay, replay, required_reason, savepoint,
    settlement_account, system_account,
)
from portal.ledger.in_database import NO_RECORD, AnswerRecord, earlier_answer, in_one_call
from portal.ledger.posting import Leg, fingerprint_around, over_maximum, posted_under
from portal.loyalty.points import bump_lifetime_loops, loops_account, not_enough_loops, quote
from portal.models import Account, Code, GiftCard, Merchant, Network, Transaction, User, utcnow
from portal.models.cards import CARD_KINDS
from portal.money import Money, display
from portal.notifications.messages import card_received, redemption_receipt, topup_receipt
from portal.programme import card_channel, refuse_currency, refuse_redemption
from portal.wallet import wallet_account

# Cards paid with money stay valid at least five years from the last load (US CARD Act; Ireland 2019).
PURCHASED_MIN_DAYS = 1826
PROMOTIONAL_DEFAULT_DAYS = 90
MAX_DAYS = 100 * 366
LOAD_SOURCES = ("cash", "loops", "wallet")
HELD = "This card is waiting to be claimed by a friend"
# What a hold's life writes (portal/cards/holds.py); the hold's state says what its money did.
HOLD_KINDS = ("hold", "capture", "release", "lapse")


@dataclass
class IssuedCard:
    card: GiftCard
    code: str  # the full code: show it once
    transaction: Transaction


@dataclass
class Redemption:
    transaction: Transaction
    card: GiftCard
    applied: Money
    remaining_due: Money
    answer: dict | None = None  # the values the call kept with the API request's record


def _expiry_days(kind: str, days: int | None) -> int:
    """Days a new card stays valid. Raise ValidationError below the legal minimum for purchased cards."""
    if kind not in CARD_KINDS:
        raise ValidationError(f"A card is {' or '.join(CARD_KINDS)}", field="kind")
    if days is None:
        return PURCHASED_MIN_DAYS if kind == "purchased" else PROMOTIONAL_DEFAULT_DAYS
    if type(days) is not int or days < 1 or days > MAX_DAYS:
        raise ValidationError("Give the expiry as a whole number of days, at least 1", field="expires_in_days")
    if kind == "purchased" and days < PURCHASED_MIN_DAYS:
        raise ValidationError(
            f"Cards bought with money must stay valid for at least 5 years ({PURCHASED_MIN_DAYS} days)",
            field="expires_in_days",
        )
    return days


def issued_from(session: Session, vault: CodeVault, transaction: Transaction) -> IssuedCard:
    """The card an earlier issuing transaction made, with its code decrypted (for a replay).

    Raise AlreadyRedeemed if the card has changed hands since: its code now is its new holder's,
    and replaying the request that issued it must not show it to whoever issued it.
    """
    card = session.get(GiftCard, transaction.card_id)
    if changed_hands(session, card):
        raise AlreadyRedeemed("This card has been claimed since it was issued; only its holder sees its code now")
    return IssuedCard(card=card, code=vault.decrypt(card.code.ciphertext), transaction=transaction)


def new_card(
    session: Session,
    vault: CodeVault,
    *,
    value: Money,
    funding: list[Leg],
    actor: Actor,
    idempotency_key: str,
    request_hash: str,
    owner_id: int | None,
    scope_id: int | None,
    kind: str,
    days: int,
    transaction_kind: str,
    memo: str = "",
    merchant_id: int | None = None,
    network_id: int | None = None,
    now: datetime | None = None,
) -> IssuedCard:
    """Create a card with a fresh code and fund it from ``funding`` in one transaction.

    Raise InsufficientFunds if a funding account falls short (nothing is left behind). If a
    concurrent request under the same key won, its card is returned and ours is rolled back.
    """
    now = now or utcnow()
    code = generate_card_code()
    nested = savepoint(session)
    try:
        lookup_hash, ciphertext, masked = vault.seal(code)
        stored = Code(lookup_hash=lookup_hash, ciphertext=ciphertext, masked=masked)
        # The card's id names the account, so the account gets its final key once the card exists.
        account = Account(key=f"card:new:{secrets.token_hex(8)}", kind="card", currency=value.currency, balance=0)
        session.add_all([stored, account])
        session.flush()
        card = GiftCard(
            code_id=stored.id, account_id=account.id, owner_id=owner_id, currency=value.currency,
            merchant_id=scope_id, network_id=network_id, status="active", kind=kind,
            expires_at=now + timedelta(days=days),
        )
        session.add(card)
        session.flush()
        account.key = f"card:{card.id}"
        session.flush()
        transaction, replayed = post_or_replay(
            session, kind=transaction_kind, actor=actor, idempotency_key=idempotency_key,
            request_hash=request_hash, legs=[*funding, (account, value.minor)], memo=memo,
            card_id=card.id, merchant_id=merchant_id,
        )
    except BaseException:
        nested.rollback()
        raise
    if replayed:
        nested.rollback()
        return issued_from(session, vault, transaction)
    nested.commit()
    return IssuedCard(card=card, code=code, transaction=transaction)


def issue_card(
    session: Session,
    vault: CodeVault,
    *,
    amount: Money,
    actor: Actor,
    idempotency_key: str,
    owner: User | None = None,
    merchant: Merchant | None = None,
    kind: str = "purchased",
    expires_in_days: int | None = None,
    scope_to_merchant: bool | None = None,
    network: Network | None = None,
    memo: str = "",
    now: datetime | None = None,
    send_to: str | None = None,
) -> IssuedCard:
    """Issue a new card holding ``amount``: purchased from "issuance", promotional from "promotions".

    A card sold by a merchant works only there unless the merchant sells network cards
    (``scope_to_merchant`` overrides); a card of a ``network`` only at its merchants. Purchased
    cards last 1826 days by default and at least; promotional ones 90 by default. Raise
    ValidationError for a shorter purchased expiry, a Loops amount, a non-customer owner, a
    currency the programme does not allow, or a network with a card scoped to one merchant;
    CurrencyMismatch if the merchant trades in another currency; IdempotencyConflict.
    """
    days = _expiry_days(kind, expires_in_days)
    if scope_to_merchant is None:
        scope_to_merchant = merchant is not None and not merchant.sells_network_cards
    scope_id = merchant.id if merchant is not None and scope_to_merchant else None
    request = fingerprint(
        "issue", amount.minor, amount.currency, owner.id if owner else None,
        merchant.id if merchant else None, scope_id, kind, days, memo,
        # A network is part of the request only when there is one (older keys stay as they were).
        *((f"network:{network.id}",) if network is not None else ()),
        # Who is e-mailed the card is part of the request (left out when nobody, as before it counted).
        *((send_to.strip().lower(),) if send_to else ()),
    )
    earlier = replay(session, actor, idempotency_key, request)
    if earlier is not None:
        return issued_from(session, vault, earlier)
    if amount.currency == "LOOP":
        raise ValidationError("A gift card holds money, not Loops", field="currency")
    refuse_currency(session, amount.currency)
    if network is not None and scope_id is not None:
        raise ValidationError("A card works at one merchant or in one network: choose one of them", field="network")
    if owner is not None and owner.role != "customer":
        raise ValidationError("Gift cards can only belong to customer accounts", field="owner_email")
    if merchant is not None and merchant.currency != amount.currency:
        raise CurrencyMismatch(f"{merchant.name} sells cards in {merchant.currency}, not {amount.currency}")
    source = system_account(session, "issuance" if kind == "purchased" else "promotions", amount.currency)
    issued = new_card(
        session, vault, value=amount, funding=[(source, -amount.minor)], actor=actor,
        idempotency_key=idempotency_key, request_hash=request, owner_id=owner.id if owner else None,
        scope_id=scope_id, kind=kind, days=days, transaction_kind="issue", memo=memo,
        merchant_id=merchant.id if merchant else None, network_id=network.id if network else None, now=now,
    )
    card_received(session, issued, send_to=send_to)  # e-mails a bearer card to send_to, else tells the owner
    return issued


def _redemption(card: GiftCard, requested: Money, transaction: Transaction) -> Redemption:
    applied = -sum(entry.amount for entry in transaction.entries if entry.account_id == card.account_id)
    applied_money = Money(applied, card.currency)
    return Redemption(transaction, card, applied_money, requested - applied_money)


def redeem(
    session: Session,
    card: GiftCard,
    amount: Money,
    *,
    actor: Actor,
    idempotency_key: str,
    merchant: Merchant | None,
    allow_partial: bool = False,
    reference: str | None = None,
    receipt: bool = True,
    now: datetime | None = None,
    record: AnswerRecord = NO_RECORD,
) -> Redemption:
    """Pay ``amount`` (or with ``allow_partial`` as much of it as the card holds) from the card.

    The owner gets a receipt unless ``receipt`` is False (a till's sale sends one for all its payments).
    With ``record`` (an API request's), the one-call path keeps the request's record itself and
    may raise AnsweredEarlier; the Python path leaves the record to the caller.

    The value goes to the merchant's settlement account ("settlement:{id}:{currency}") whether
    the card is network-wide or the merchant's own, so one report shows what each is owed;
    without a merchant it goes to the system "settlement-clearing" account.
    Raise InsufficientFunds ("This card holds 7.50 USD; 10.00 USD is more than that", or an
    empty card with allow_partial), CardCancelled/CardFrozen/CardExpired/NotValidHere/
    CurrencyMismatch if the card cannot pay here, NotValidHere if the programme does not let gift
    cards be redeemed through this channel or by this role, ValidationError while it waits for a friend,
    NotFound if it got a new code since it was looked up, IdempotencyConflict.
    """
    now = now or utcnow()
    request = fingerprint(*_redemption_parts(card.id, amount, merchant, allow_partial, reference))
    refuse_by_programme(session, actor, idempotency_key, request, merchant)
    if in_one_call(session):
        return _redeem_in_one_call(
            session, card, amount, actor=actor, idempotency_key=idempotency_key, request_hash=request,
            merchant=merchant, allow_partial=allow_partial, reference=reference, receipt=receipt, now=now,
            record=record,
        )
    # The card's lock, the look-up of an earlier answer and of a friend's hold share a round trip:
    # redemptions are the hot path. A payment names the card by its code, so a card that changed
    # hands (and code) since it was looked up is refused.
    earlier_id, held = lock_card_and_read(
        session, card, posted_under(actor, idempotency_key), held_subquery(card, now), by_code=True
    )
    if earlier_id is not None and (earlier := replay(session, actor, idempotency_key, request)) is not None:
        return _redemption(card, amount, earlier)
    same_currency(card, amount)
    usable_at(card, merchant, now)
    if held:
        raise ValidationError(HELD)
    payee = payee_account(session, merchant, card.currency)
    applied = amount.minor
    if allow_partial:
        applied = min(locked_balance(session, card), amount.minor)
        if applied <= 0:
            raise InsufficientFunds(NOTHING_LEFT)
    try:
        transaction, _ = post_or_replay(
            session, kind="redeem", actor=actor, idempotency_key=idempotency_key, request_hash=request,
            legs=[(card.account, -applied), (payee, applied)], card_id=card.id,
            merchant_id=merchant.id if merchant else None, reference=reference,
            memo=f"Paid {display(applied, card.currency)}" + (f" at {merchant.name}" if merchant else ""),
        )
    except InsufficientFunds:
        raise _short(card, amount, balance_of(session, card.account_id)) from None
    if receipt:
        redemption_receipt(session, card, transaction)
    return _redemption(card, amount, transaction)


def _redemption_parts(card_id: int, amount: Money, merchant: Merchant | None, allow_partial: bool, reference: str | None):
    """What the ledger's fingerprint of a redemption is made of."""
    return ("redeem", card_id, amount.minor, amount.currency, merchant.id if merchant else None, bool(allow_partial), reference)


def redeem_named(
    session: Session,
    name: CardName,
    amount: Money,
    *,
    actor: Actor,
    idempotency_key: str,
    merchant: Merchant | None,
    allow_partial: bool,
    reference: str | None,
    record: AnswerRecord,
) -> NamedPayment | None:
    """``redeem`` from the card a code names, found and locked by the one call that pays and keeps
    the API request's record (``in_one_call`` databases only): the payment, or None when the card
    refuses it (nothing written; the caller finds the card and ``redeem`` gives the rule's words).
    Raise NotFound if no card has the code, AnsweredEarlier if the request's key is taken."""
    if _programme_refusal(session, actor, merchant) is not None:
        return None  # ``redeem`` gives the rule's words, or the answer this key already had
    paid = pay_named(
        session, name, amount, record=record, actor=actor, idempotency_key=idempotency_key,
        request_hash=fingerprint_around(_redemption_parts(0, amount, merchant, allow_partial, reference), 1),
        merchant=merchant, allow_partial=allow_partial, reference=reference, receipt=True, now=utcnow(),
    )
    if paid == "no_card":
        raise name.missing()
    return paid if isinstance(paid, NamedPayment) else None


NOTHING_LEFT = "This card has nothing left on it"


def payee_account(session: Session, merchant: Merchant | None, currency: str) -> Account:
    """Where a card's payment goes: the merchant's settlement account, or without a merchant the
    system "settlement-clearing" account."""
    if merchant is not None:
        return settlement_account(session, merchant.id, currency)
    return system_account(session, "settlement-clearing", currency)


def refuse_by_programme(
    session: Session, actor: Actor, idempotency_key: str, request: str, merchant: Merchant | None
) -> None:
    """The programme's rule for gift cards (channel, role) on this payment, before either path pays;
    a request that already paid under this key is answered again rather than refused (the rule may
    have changed since). It reads the request, not the card, so no lock is needed for it."""
    refusal = _programme_refusal(session, actor, merchant)
    if refusal is not None and replay(session, actor, idempotency_key, request) is None:
        raise refusal


def _programme_refusal(session: Session, actor: Actor, merchant: Merchant | None) -> DomainError | None:
    redeemer = session.get(User, actor.user_id) if actor.user_id is not None else None
    try:
        refuse_redemption(session, "gift_card", card_channel(actor, merchant.id if merchant else None), redeemer)
    except DomainError as refusal:
        return refusal
    return None


def same_currency(card: GiftCard, amount: Money) -> None:
    if amount.currency != card.currency:
        raise CurrencyMismatch(f"This card is in {card.currency}, not {amount.currency}")


def _short(card: GiftCard, amount: Money, held: int) -> InsufficientFunds:
    return InsufficientFunds(f"This card holds {display(held, card.currency)}; {amount.display()} is more than that")


def _redeem_in_one_call(
    session: Session, card: GiftCard, amount: Money, *, actor: Actor, idempotency_key: str, request_hash: str,
    merchant: Merchant | None, now: datetime, **options,
) -> Redemption:
    """``redeem`` as one database call (``portal.cards.in_database``): each refusal it
    reports is raised by the rule that makes it on the Python path, with the same words."""
    outcome = pay(
        session, card, amount, actor=actor, idempotency_key=idempotency_key, request_hash=request_hash,
        merchant=merchant, now=now, **options,
    )
    if outcome.name == "paid":
        return dataclasses.replace(_redemption(card, amount, outcome.transaction), answer=outcome.answer)
    if outcome.name in ("replay", "insufficient"):
        if (earlier := earlier_answer(session, actor, idempotency_key, request_hash, outcome.name)) is not None:
            return _redemption(card, amount, earlier)
        raise _short(card, amount, outcome.card_balance)
    if outcome.name == "new_code":
        raise NotFound(NO_SUCH_CARD, field="code")
    if outcome.name == "held":
        raise ValidationError(HELD)
    if outcome.name == "empty":
        raise InsufficientFunds(NOTHING_LEFT)
    same_currency(card, amount)
    usable_at(card, merchant, now)
    raise RuntimeError(f"giftloop_redeem refused ({outcome.name}) what the rules allow: the two paths differ")


def _load_legs(session: Session, card: GiftCard, amount: Money, source: str, customer: User | None):
    """The funding legs of a top-up, and the refusal to give if the source falls short."""
    if source == "cash":
        return [(system_account(session, "cash", amount.currency), -amount.minor)], None
    if customer is None:
        raise ValidationError("Topping up from Loops or wallet credit needs the customer", field="source")
    if source == "wallet":
        wallet = wallet_account(session, customer, amount.currency)

        def short():
            held = balance_of(session, wallet.id)
            return InsufficientFunds(
                f"Your wallet holds {display(held, amount.currency)}; this needs {amount.display()}"
            )

        return [(wallet, -amount.minor)], short
    needed = quote(customer, amount, card.merchant)
    loops = loops_account(session, customer)
    legs = [
        (loops, -needed),
        (system_account(session, "points_pool", "LOOP"), needed),
        (system_account(session, "promotions", amount.currency), -amount.minor),
    ]
    return legs, lambda: not_enough_loops(session, loops, needed)


def load(
    session: Session,
    card: GiftCard,
    amount: Money,
    *,
    actor: Actor,
    idempotency_key: str,
    source: str,
    customer: User | None = None,
    merchant: Merchant | None = None,
    extend_expiry: bool = True,
    now: datetime | None = None,
) -> Transaction:
    """Top a card up with cash at a counter, the customer's Loops (at their rate) or wallet credit.

    With ``extend_expiry`` a purchased card's expiry moves to 5 years from today (never earlier);
    promotional cards keep their date. Raise ValidationError for an unknown source or a missing
    customer, InsufficientFunds if the Loops or wallet fall short, CardCancelled/CardFrozen/
    CardExpired/NotValidHere/CurrencyMismatch if the card cannot be used here, IdempotencyConflict.
    """
    now = now or utcnow()
    request = fingerprint(
        "load", card.id, amount.minor, amount.currency, source, customer.id if customer else None,
        merchant.id if merchant else None, bool(extend_expiry),
    )
    if source == "cash" and in_one_call(session):
        try:
            _check_load(card, amount, source)
        except DomainError:
            pass  # refused below as always, after the replay look-up
        else:
            return _load_cash_in_one_call(
                session, card, amount, actor=actor, idempotency_key=idempotency_key, request_hash=request,
                merchant=merchant, extend_days=PURCHASED_MIN_DAYS if extend_expiry else None, now=now,
            )
    earlier = replay(session, actor, idempotency_key, request)
    if earlier is not None:
        return earlier
    _check_load(card, amount, source)
    lock_card(session, card)
    usable_at(card, merchant, now)
    funding, short = _load_legs(session, card, amount, source, customer)
    try:
        return _post_load(
            session, card, amount, funding, actor=actor, idempotency_key=idempotency_key, request=request,
            merchant=merchant, memo=f"Top-up from {source}", extend_expiry=extend_expiry, now=now,
        )
    except InsufficientFunds:
        raise short() from None


def load_paid(
    session: Session, card: GiftCard, amount: Money, *, funding: list[Leg], owner_id: int, idempotency_key: str,
    memo: str, now: datetime | None = None,
) -> Transaction:
    """Top up a card with money its owner paid for (a shop order), from ``funding``, by the system.

    Raise Forbidden if the card is no longer ``owner_id``'s, CardCancelled/CardFrozen/CardExpired
    if it cannot take value now, LimitExceeded past the programme's maximum balance.
    """
    now = now or utcnow()
    request = fingerprint("load_paid", card.id, amount.minor, amount.currency, owner_id)
    earlier = replay(session, SYSTEM, idempotency_key, request)
    if earlier is not None:
        return earlier
    lock_card(session, card)
    if card.owner_id != owner_id:
        raise Forbidden("This card has changed hands since the top-up was ordered")
    usable_at(card, None, now)
    return _post_load(
        session, card, amount, funding, actor=SYSTEM, idempotency_key=idempotency_key, request=request,
        merchant=None, memo=memo, extend_expiry=True, now=now,
    )


def _post_load(
    session: Session, card: GiftCard, amount: Money, funding: list[Leg], *, actor: Actor, idempotency_key: str,
    request: str, merchant: Merchant | None, memo: str, extend_expiry: bool, now: datetime,
) -> Transaction:
    """Move a checked top-up onto the card, extend a purchased card's expiry, send the receipt."""
    transaction, replayed = post_or_replay(
        session, kind="load", actor=actor, idempotency_key=idempotency_key, request_hash=request,
        legs=[*funding, (card.account, amount.minor)], card_id=card.id,
        merchant_id=merchant.id if merchant else None, memo=memo,
    )
    if not replayed and extend_expiry and card.kind == "purchased":
        card.expires_at = max(card.expires_at, now + timedelta(days=PURCHASED_MIN_DAYS))
        session.flush()
    topup_receipt(session, card, transaction)
    return transaction


def _check_load(card: GiftCard, amount: Money, source: str) -> None:
    """The rules a top-up's request must meet, whatever the card's state."""
    if source not in LOAD_SOURCES:
        raise ValidationError(f"A top-up comes from {', '.join(LOAD_SOURCES)}", field="source")
    same_currency(card, amount)


def _load_cash_in_one_call(
    session: Session, card: GiftCard, amount: Money, *, actor: Actor, idempotency_key: str, request_hash: str,
    merchant: Merchant | None, now: datetime, **options,
) -> Transaction:
    """``load`` from cash as one database call (``portal.cards.in_database``): each refusal it
    reports is raised by the rule that makes it on the Python path, with the same words."""
    outcome = load_cash(
        session, card, amount, actor=actor, idempotency_key=idempotency_key, request_hash=request_hash,
        merchant=merchant, now=now, **options,
    )
    if outcome.name == "loaded":
        return outcome.transaction
    if outcome.name in ("replay", "over_maximum"):
        if (earlier := earlier_answer(session, actor, idempotency_key, request_hash, outcome.name)) is not None:
            return earlier
        error = LimitExceeded(over_maximum(session, card.account))
        error.account = card.account
        raise error
    usable_at(card, merchant, now)
    raise RuntimeError(f"giftloop_load_cash refused ({outcome.name}) what the rules allow: the two paths differ")


def refuse_reversal(
    original: Transaction, staff_merchant: Merchant | None, now: datetime, *, undone: bool, card: GiftCard | None
) -> None:
    """Raise the reason ``original`` cannot be undone now, if there is one: the rule ``reverse``
    applies, and the one lists follow before they offer Undo (money since spent is found only by trying)."""
    if staff_merchant is not None:
        if original.merchant_id != staff_merchant.id:
            # As missing as a number never used: another store's sales are not for staff to probe.
            raise NotFound("No transaction has that number")
        if original.created_at.date() != now.date():
            raise Forbidden("Transactions from before today can only be undone by an admin")
    if original.kind == "reverse":
        raise ValidationError("An undo cannot itself be undone")
    if original.kind in ("expire", "reinstate"):
        raise ValidationError("An expiry is undone by reinstating the card, not by undo")
    if original.kind in HOLD_KINDS:
        raise ValidationError("A hold ends by being captured, released or lapsing, not by undo")
    if undone:
        raise ValidationError("This transaction was already undone")
    if card is not None and card.status in ("cancelled", "expired"):
        raise ValidationError(f"This card is {card.status}, so its transactions can no longer be undone")


def may_reverse(
    original: Transaction, staff_merchant: Merchant | None, now: datetime, *, undone: bool, card: GiftCard | None
) -> bool:
    """Whether ``refuse_reversal`` lets ``original`` be undone now."""
    try:
        refuse_reversal(original, staff_merchant, now, undone=undone, card=card)
    except DomainError:
        return False
    return True


def reverse(
    session: Session,
    transaction_id: int,
    *,
    actor: Actor,
    idempotency_key: str,
    reason: str,
    staff_merchant: Merchant | None = None,
    now: datetime | None = None,
) -> Transaction:
    """Undo a transaction with one that mirrors its entries; nothing is updated or deleted.

    Staff (``staff_merchant``) may undo only their own merchant's transactions of the same UTC
    day; admins any. Raise NotFound if there is no such transaction or it is another merchant's
    (for staff), Forbidden for staff past the day, ValidationError if it was already undone, is
    itself an undo or an expiry, the reason is blank, or the card is cancelled or expired;
    InsufficientFunds if the money was since spent.
    """
    now = now or utcnow()
    reason = required_reason(reason)
    request = fingerprint("reverse", transaction_id, staff_merchant.id if staff_merchant else None, reason)
    earlier = replay(session, actor, idempotency_key, request)
    if earlier is not None:
        return earlier
    original = session.get(Transaction, transaction_id)
    if original is None:
        raise NotFound("No transaction has that number")
    refuse_reversal(original, staff_merchant, now, undone=False, card=None)  # before touching the card
    undone = session.scalar(sa.select(Transaction.id).where(Transaction.reverses_id == original.id)) is not None
    card = lock_card(session, session.get(GiftCard, original.card_id)) if original.card_id is not None else None
    refuse_reversal(original, staff_merchant, now, undone=undone, card=card)
    try:
        transaction, replayed = post_or_replay(
            session, kind="reverse", actor=actor, idempotency_key=idempotency_key, request_hash=request,
            legs=[(entry.account, -entry.amount) for entry in original.entries], card_id=original.card_id,
            merchant_id=original.merchant_id, reverses_id=original.id,
            memo=f"Undo of #{original.id}: {reason}",
        )
    except InsufficientFunds:
        raise InsufficientFunds("The money from this transaction has since been spent, so it cannot be undone") from None
    except IntegrityError:
        raise ValidationError("This transaction was already undone") from None
    if not replayed:
        if original.kind == "points_earn":
            for entry in original.entries:
                if entry.account.kind == "loops":
                    bump_lifetime_loops(session, entry.account.owner_id, -entry.amount)
        audit(session, actor, "transaction.reversed", f"transaction:{original.id}", reason, reversal_id=transaction.id)
        session.flush()
    return transaction


def _refuse_closed(card: GiftCard, doing: str) -> None:
    if card.status == "cancelled":
        raise CardCancelled(f"This card was cancelled; it cannot be {doing}")
    if card.status == "expired":
        raise CardExpired(f"This card has expired; reinstate it before it can be {doing}")


def adjust(
    session: Session, card: GiftCard, delta: int, *, actor: Actor, idempotency_key: str, reason: str
) -> Transaction:
    """Correct a card's balance by ``delta`` minor units against the system "adjustments" account.

    Raise ValidationError for a zero delta or a blank reason, CardCancelled/CardExpired for a
    closed card, InsufficientFunds if the card would go below zero, IdempotencyConflict.
    """
    reason = required_reason(reason)
    if type(delta) is not int or delta == 0:
        raise ValidationError("An adjustment must change the balance", field="amount")
    request = fingerprint("adjust", card.id, delta, reason)
    earlier = replay(session, actor, idempotency_key, request)
    if earlier is not None:
        return earlier
    lock_card(session, card)
    _refuse_closed(card, "adjusted")
    source = system_account(session, "adjustments", card.currency)
    try:
        transaction, replayed = post_or_replay(
            session, kind="adjust", actor=actor, idempotency_key=idempotency_key, request_hash=request,
            legs=[(source, -delta), (card.account, delta)], card_id=card.id, memo=reason,
        )
    except InsufficientFunds:
        held = balance_of(session, card.account_id)
        raise InsufficientFunds(
            f"This card holds {display(held, card.currency)}; it cannot go below zero"
        ) from None
    if not replayed:
        audit(session, actor, "card.adjusted", f"card:{card.id}", reason, delta=delta, currency=card.currency,
              transaction_id=transaction.id)
        session.flush()
    return transaction


def _set_frozen(session: Session, card: GiftCard, frozen: bool, *, actor: Actor, reason: str) -> GiftCard:
    reason = required_reason(reason)
    lock_card(session, card)
    wanted = "frozen" if frozen else "active"
    if card.status == wanted:
        return card
    _refuse_closed(card, "frozen" if frozen else "unfrozen")
    card.status = wanted
    audit(session, actor, "card.frozen" if frozen else "card.unfrozen", f"card:{card.id}", reason)
    events.card_changed(session, "card.frozen" if frozen else "card.unfrozen", card)
    session.flush()
    return card


def freeze(session: Session, card: GiftCard, *, actor: Actor, reason: str) -> GiftCard:
    """Stop a card from being used until it is unfrozen (freezing a frozen card does nothing).

    Raise ValidationError for a blank reason, CardCancelled/CardExpired for a closed card.
    """
    return _set_frozen(session, card, True, actor=actor, reason=reason)


def unfreeze(session: Session, card: GiftCard, *, actor: Actor, reason: str) -> GiftCard:
    """Let a frozen card be used again (unfreezing an active card does nothing).

    Raise ValidationError for a blank reason, CardCancelled/CardExpired for a closed card.
    """
    return _set_frozen(session, card, False, actor=actor, reason=reason)


def cancel(
    session: Session, card: GiftCard, *, actor: Actor, idempotency_key: str, reason: str, now: datetime | None = None
) -> Transaction | None:
    """Cancel a card for good: its balance moves to breakage and a waiting transfer ends.

    Returns the transaction, or None if the card was empty. Raise ValidationError for a blank
    reason, CardCancelled/CardExpired if it is already closed, IdempotencyConflict.
    """
    now = now or utcnow()
    reason = required_reason(reason)
    request = fingerprint("cancel", card.id, reason)
    earlier = replay(session, actor, idempotency_key, request)
    if earlier is not None:
        return earlier
    lock_card(session, card)
    if card.status == "cancelled":
        raise CardCancelled("This card was already cancelled")
    _refuse_closed(card, "cancelled")
    balance = locked_balance(session, card)
    nested = savepoint(session)
    try:
        transaction = None
        if balance > 0:
            transaction, _ = post_or_replay(
                session, kind="adjust", actor=actor, idempotency_key=idempotency_key, request_hash=request,
                legs=[(card.account, -balance), (system_account(session, "breakage", card.currency), balance)],
                card_id=card.id, memo=f"Cancelled: {reason}",
            )
        card.status = "cancelled"
        end_pending(session, card, "cancelled", now)
        audit(session, actor, "card.cancelled", f"card:{card.id}", reason, balance=balance, currency=card.currency)
        events.card_changed(session, "card.cancelled", card)
        session.flush()
    except BaseException:
        nested.rollback()
        raise
    nested.commit()
    return transaction
