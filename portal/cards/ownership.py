"""A card changing hands: the new holder gets it under a new code, and the old code dies.

Whoever held the card before may know its code (they revealed it, printed it, or sold the card
with the code on it). If that code still worked, they could spend the new holder's balance: the
classic "sell a card, then drain it". So both ways a card changes hands (a friend claims a
transfer, a customer claims a bearer card into a wallet) go through ``hand_over``, which gives the
card a new code in the caller's transaction.

The new code is a new ``codes`` row. The old row stays, for the record, but no card points at it
any more, so every look-up by the old code (till, API, balance check, claim) finds nothing, and
every QR token minted for it (tokens name the code row, see ``QrTokens``) resolves to no card.
The change of owner moves no value, so it is an audit record, not a ledger transaction (ledger
entries are never zero): who held the card from when, under which masked code.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.cards.codes import CodeVault, generate_card_code
from portal.cards.lookup import lock_card
from portal.ledger import SYSTEM, Actor, audit
from portal.models import AuditEvent, Code, GiftCard, Transfer, User
from portal.notifications.messages import card_handed_over, card_now_yours, card_rekeyed

TRANSFERRED = "card.transferred"  # a friend claimed a transfer
CLAIMED = "card.claimed"  # a customer claimed a bearer card
REKEYED = "card.rekeyed"  # a card that changed hands before hand-overs re-keyed, given a new code since
_CODE_CHANGES = (TRANSFERRED, CLAIMED, REKEYED)


def _new_code(session: Session, vault: CodeVault, card: GiftCard) -> tuple[str, str]:
    """Point the card at a new code row; returns the new code and the old one's masked form."""
    old_masked = card.code.masked
    code = generate_card_code()
    lookup_hash, ciphertext, masked = vault.seal(code)
    stored = Code(lookup_hash=lookup_hash, ciphertext=ciphertext, masked=masked)
    session.add(stored)
    session.flush()
    card.code = stored
    return code, old_masked


def hand_over(
    session: Session, vault: CodeVault, card: GiftCard, to: User, *, transfer: Transfer | None = None
) -> str:
    """Make ``to`` the card's holder under a new code; returns the new code.

    The caller has locked the card (``lock_card``) and decided under that lock that ``to`` may
    have it (by ``transfer``, or as a bearer card when None). Records the change as an audit
    event with the masked old and new codes; mails the new code to ``to`` and, if the card had
    an owner, tells them it is gone (without a code).
    """
    giver_id = card.owner_id
    code, old_masked = _new_code(session, vault, card)
    card.owner = to
    session.flush()
    audit(
        session, Actor(user_id=to.id), TRANSFERRED if transfer else CLAIMED, f"card:{card.id}",
        **({"transfer_id": transfer.id} if transfer else {}),
        from_user_id=giver_id, to_user_id=to.id, old_code=old_masked, new_code=card.code.masked,
    )
    card_now_yours(session, card, code, from_user_id=giver_id)
    if giver_id is not None:
        card_handed_over(session, card, giver_id, old_masked=old_masked)
    return code


def changed_hands(session: Session, card: GiftCard) -> bool:
    """Whether the card was ever handed over, and so no longer has the code it was issued with."""
    return bool(session.scalar(sa.select(sa.exists().where(
        AuditEvent.action.in_(_CODE_CHANGES), AuditEvent.target == f"card:{card.id}",
    ))))


def still_on_old_code(session: Session) -> list[int]:
    """The cards (not cancelled) that changed hands before hand-overs re-keyed, and have not been
    re-keyed since: whoever held them before may still know the code. Their hand-over records
    lack the ``new_code`` that every record of a code change has had since."""
    changes = session.execute(
        sa.select(AuditEvent.target, AuditEvent.detail).where(AuditEvent.action.in_(_CODE_CHANGES))
    ).all()
    stale = {target for target, _ in changes} - {target for target, detail in changes if "new_code" in (detail or {})}
    ids = [int(target.removeprefix("card:")) for target in stale]
    return list(session.scalars(
        sa.select(GiftCard.id).where(GiftCard.id.in_(ids), GiftCard.status != "cancelled").order_by(GiftCard.id)
    ))


def rekey(session: Session, vault: CodeVault, card: GiftCard) -> str:
    """Give the card a new code for the holder it already has, and mail it to them; returns it."""
    lock_card(session, card)
    code, old_masked = _new_code(session, vault, card)
    session.flush()
    audit(
        session, SYSTEM, REKEYED, f"card:{card.id}",
        holder_id=card.owner_id, old_code=old_masked, new_code=card.code.masked,
    )
    card_rekeyed(session, card, code)
    return code
