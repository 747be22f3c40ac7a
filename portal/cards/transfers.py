"""Giving a card to a friend: a claim code, a 14-day hold, and a claim that only one person wins.

The change of owner moves no value (the card's account stays the same), so it is recorded as an
AuditEvent, not as a ledger transaction: ledger entries are never zero. The friend gets the card
under a new code (``portal.cards.ownership``): the giver's copy of the old one stops working.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.cards.codes import ALPHABET, CodeVault
from portal.cards.lookup import lock_card, locked_balance, long_date, usable_at
from portal.cards.ownership import hand_over
from portal.cards.typed import LOOKALIKES, squeezed
from portal.emails import normalise_email
from portal.errors import AlreadyRedeemed, CardExpired, Forbidden, TransferNotFound, ValidationError
from portal.events import kinds as events
from portal.ledger import Actor, audit
from portal.models import GiftCard, Transfer, User, utcnow
from portal.notifications.messages import transfer_invitation

HOLD_DAYS = 14
_PREFIX = "GL"
_SYMBOLS = 12  # 60 random bits: the code also needs the sender's card to be pending, and lives 14 days
_NOT_A_CLAIM_CODE = "That doesn't look like a claim code: it should look like GL-XXXX-XXXX-XXXX"


def _display(symbols: str) -> str:
    return "-".join([_PREFIX, *(symbols[i : i + 4] for i in range(0, _SYMBOLS, 4))])


def new_claim_code() -> str:
    """A fresh claim code, GL-XXXX-XXXX-XXXX, from the OS CSPRNG."""
    return _display("".join(secrets.choice(ALPHABET) for _ in range(_SYMBOLS)))


def normalise_claim_code(text: str) -> str:
    """Canonical GL-… form of a typed claim code (any case, spaces, dashes, O/I/L look-alikes).

    Raise ValidationError if it is not shaped like one.
    """
    if not isinstance(text, str) or len(text) > 60:
        raise ValidationError(_NOT_A_CLAIM_CODE, field="claim_code")
    s = squeezed(text)
    if len(s) == len(_PREFIX) + _SYMBOLS and s.startswith(_PREFIX):
        s = s[len(_PREFIX) :]
    s = s.translate(LOOKALIKES)
    if len(s) != _SYMBOLS or any(ch not in ALPHABET for ch in s):
        raise ValidationError(_NOT_A_CLAIM_CODE, field="claim_code")
    return _display(s)


def _waiting(card_id, now: datetime):
    return (Transfer.card_id == card_id, Transfer.status == "pending", Transfer.expires_at > now)


def pending_transfer(session: Session, card: GiftCard, now: datetime | None = None) -> Transfer | None:
    """The transfer the card is held for, if one is waiting and has not run out."""
    return session.scalar(sa.select(Transfer).where(*_waiting(card.id, now or utcnow())))


def held_subquery(card: GiftCard, now: datetime) -> sa.Exists:
    """Whether the card waits for a friend, as a subquery to ask alongside another statement."""
    return sa.exists().where(*_waiting(card.id, now))


def is_held(session: Session, card: GiftCard, now: datetime | None = None) -> bool:
    """Whether the card waits to be claimed by a friend (and so cannot be spent or given again)."""
    return bool(session.scalar(sa.select(held_subquery(card, now or utcnow()))))


def end_pending(session: Session, card: GiftCard, status: str, now: datetime) -> int:
    """Close the card's waiting transfer (when the card is cancelled or expires); returns how many."""
    result = session.execute(
        sa.update(Transfer)
        .where(Transfer.card_id == card.id, Transfer.status == "pending")
        .values(status=status, finished_at=now),
        execution_options={"synchronize_session": "fetch"},
    )
    return result.rowcount


def start_transfer(
    session: Session, vault: CodeVault, card: GiftCard, *, actor: Actor, to_email: str | None, now: datetime | None = None
) -> tuple[Transfer, str]:
    """Hold the card for a friend for 14 days; returns the transfer and its claim code (shown once).

    Raise Forbidden if the actor does not own the card, CardFrozen/CardCancelled/CardExpired if it
    cannot be used, ValidationError if it is empty, already waiting, or the address is bad or one's own.
    """
    now = now or utcnow()
    if actor.user_id is None or actor.user_id != card.owner_id:
        raise Forbidden("Only the card's owner can give it away")
    email = normalise_email(to_email, field="to_email") if to_email and to_email.strip() else None
    lock_card(session, card)
    if card.owner_id != actor.user_id:
        raise Forbidden("Only the card's owner can give it away")
    if email is not None and card.owner is not None and email == card.owner.email.lower():
        raise ValidationError("That is your own address: enter your friend's", field="to_email")
    usable_at(card, None, now)
    if locked_balance(session, card) == 0:
        raise ValidationError("There is nothing left on this card to give")
    # A transfer that ran out but was not swept yet must not block a new one.
    session.execute(
        sa.update(Transfer)
        .where(Transfer.card_id == card.id, Transfer.status == "pending", Transfer.expires_at <= now)
        .values(status="lapsed", finished_at=now),
        execution_options={"synchronize_session": "fetch"},
    )
    if is_held(session, card, now):
        raise ValidationError("This card is already waiting to be claimed by a friend")
    code = new_claim_code()
    transfer = Transfer(
        card_id=card.id,
        from_user_id=card.owner_id,
        to_email=email,
        claim_hash=vault.lookup_hash(code),
        status="pending",
        created_at=now,
        expires_at=now + timedelta(days=HOLD_DAYS),
    )
    session.add(transfer)
    session.flush()
    audit(session, actor, "card.transfer_started", f"card:{card.id}", transfer_id=transfer.id, to_email=email)
    transfer_invitation(session, transfer, code)
    return transfer, code


def _refuse_closed(transfer: Transfer, now: datetime) -> None:
    """Raise the reason a transfer cannot be claimed any more, if there is one."""
    if transfer.status == "claimed":
        raise AlreadyRedeemed("This card has already been claimed")
    if transfer.status == "cancelled":
        raise ValidationError("The sender cancelled this transfer")
    if transfer.status == "lapsed" or transfer.expires_at <= now:
        raise CardExpired(f"This transfer expired on {long_date(transfer.expires_at)}")


def claim_transfer(
    session: Session, vault: CodeVault, claim_code: str, user: User, *, now: datetime | None = None
) -> GiftCard:
    """Make the user the owner of the card waiting under this claim code, under a new card code.

    Raise ValidationError for a malformed code or one's own card, TransferNotFound if no transfer
    has the code, Forbidden if the user may not hold it (not a customer, another address),
    AlreadyRedeemed if someone claimed it first, CardExpired if it ran out, and the card's own
    refusal (CardFrozen, CardCancelled, CardExpired) if the card cannot be used.
    """
    now = now or utcnow()
    code = normalise_claim_code(claim_code)
    transfer = session.scalar(sa.select(Transfer).where(Transfer.claim_hash == vault.lookup_hash(code)))
    if transfer is None:
        raise TransferNotFound("No card transfer has that claim code", field="claim_code")
    if user.role != "customer":
        raise Forbidden("Only a customer account can hold gift cards")
    if user.id == transfer.from_user_id:
        raise ValidationError("This is your own card: cancel the transfer instead")
    if transfer.to_email and user.email.lower() != transfer.to_email:
        raise Forbidden("This card was sent to a different e-mail address")
    _refuse_closed(transfer, now)
    card = lock_card(session, transfer.card)
    # Under the card's lock, read the transfer again: a friend who claimed it first while this
    # request waited for the lock has made it claimed (and the card theirs).
    session.refresh(transfer)
    _refuse_closed(transfer, now)
    usable_at(card, None, now)
    if card.owner_id != transfer.from_user_id:
        raise ValidationError("This card has changed hands and can no longer be claimed")
    # Whoever flips the row from pending wins; everyone else is told it is taken.
    won = session.execute(
        sa.update(Transfer)
        .where(Transfer.id == transfer.id, Transfer.status == "pending", Transfer.expires_at > now)
        .values(status="claimed", claimed_by_id=user.id, finished_at=now)
        .returning(Transfer.id),
        execution_options={"synchronize_session": False},
    ).scalar()
    session.refresh(transfer)
    if won is None:
        _refuse_closed(transfer, now)
        raise AlreadyRedeemed("This card has already been claimed")
    # Safe: the card row is locked and its owner was checked under the lock. The giver may
    # know the code, so the card changes hands under a new one.
    hand_over(session, vault, card, user, transfer=transfer)
    events.card_changed(session, "card.transferred", card, transfer_id=transfer.id, from_customer_id=transfer.from_user_id)
    return card


def cancel_transfer(session: Session, transfer_id: int, *, user: User, now: datetime | None = None) -> Transfer:
    """Take back a card that is waiting to be claimed; the hold ends.

    Raise TransferNotFound if there is no such transfer of the user's (admins may cancel any),
    AlreadyRedeemed if the friend claimed it first, ValidationError if it already ended.
    """
    now = now or utcnow()
    transfer = session.get(Transfer, transfer_id)
    if transfer is None or (transfer.from_user_id != user.id and user.role != "admin"):
        raise TransferNotFound("No card transfer of yours has that number")
    won = session.execute(
        sa.update(Transfer)
        .where(Transfer.id == transfer.id, Transfer.status == "pending")
        .values(status="cancelled", finished_at=now)
        .returning(Transfer.id),
        execution_options={"synchronize_session": False},
    ).scalar()
    session.refresh(transfer)
    if won is None:
        if transfer.status == "claimed":
            raise AlreadyRedeemed("Your friend has already claimed this card")
        raise ValidationError(f"This transfer has already ended ({transfer.status})")
    audit(session, Actor(user_id=user.id), "card.transfer_cancelled", f"card:{transfer.card_id}", transfer_id=transfer.id)
    return transfer


def lapse_transfers(session: Session, now: datetime | None = None) -> int:
    """End every transfer whose 14 days ran out (the card stays with its owner); returns how many."""
    now = now or utcnow()
    result = session.execute(
        sa.update(Transfer)
        .where(Transfer.status == "pending", Transfer.expires_at <= now)
        .values(status="lapsed", finished_at=now),
        execution_options={"synchronize_session": "fetch"},
    )
    return result.rowcount
