"""Any code a customer types in "Redeem a code": a bearer card, a friend's claim code, a gift
subscription's code (through ``portal.gifts``), a credit code or a feature unlock (the last two
through ``portal.campaigns``).

Callers run ``redeem_any`` inside ``portal.web.guessing.guarded()`` so a code that does not exist
counts against the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from portal.cards.codes import CodeVault, QrTokens, is_card_code
from portal.cards.lookup import find_card, lock_card, locked_balance, usable_at
from portal.cards.ownership import hand_over
from portal.cards.transfers import claim_transfer
from portal.cards.typed import squeezed
from portal.campaigns import RedeemedCode, redeem_code
from portal.errors import AlreadyRedeemed, Forbidden, NotFound, TransferNotFound, ValidationError
from portal.gifts import RedeemedGift, looks_like_gift_code, redeem_gift_code
from portal.models import GiftCard, User

NOT_RECOGNISED = "We don't recognise that code"
NEW_CODE = " It has a new code now: the old one no longer works."


@dataclass
class Redeemed:
    """What a code did: ``kind`` is card, transfer, gift, credit or feature (as the API names them)."""

    kind: str
    message: str
    card: GiftCard | None = None  # the card now in the wallet, if the code was one
    code: RedeemedCode | None = None  # what a campaign code did (credit or feature)
    gift: RedeemedGift | None = None  # the gift subscription redeemed and the subscription it started


def claim_bearer_card(session: Session, vault: CodeVault, card: GiftCard, user: User) -> GiftCard:
    """Make a bearer card (printed, e-mailed or sold at a counter) the user's own, under a new code.

    Raise Forbidden if the user is not a customer, AlreadyRedeemed if the card already has an
    owner (the user or someone else), CardCancelled/CardFrozen/CardExpired if it cannot be used,
    ValidationError if nothing is left on it.
    """
    if user.role != "customer":
        raise Forbidden("Only a customer account can hold gift cards")
    lock_card(session, card, by_code=True)
    if card.owner_id == user.id:
        raise AlreadyRedeemed("This card is already in your wallet", field="code")
    if card.owner_id is not None:
        raise AlreadyRedeemed("This card already belongs to someone", field="code")
    usable_at(card, None)
    if locked_balance(session, card) == 0:
        raise ValidationError("This card has already been used up", field="code")
    # Everyone who saw the printed or e-mailed code could spend it: the card becomes the
    # user's under a new code.
    hand_over(session, vault, card, user)
    return card


def redeem_any(
    session: Session, vault: CodeVault, qr: QrTokens, text: str, user: User, *, channel: str = "web"
) -> Redeemed:
    """Whatever the code is, add it to the user's wallet and say what happened.

    Raise ValidationError for a card code with a typo, NotFound for a code that names nothing,
    and the refusal of the card, transfer or campaign it names.
    """
    compact = squeezed(text or "")
    if is_card_code(text) or (compact.startswith("GC") and len(compact) == 19):
        card = claim_bearer_card(session, vault, find_card(session, text, vault, qr), user)
        return Redeemed("card", "The gift card is now in your wallet." + NEW_CODE, card)
    if compact.startswith("GL") and len(compact) == 14:
        try:
            card = claim_transfer(session, vault, text, user)
            return Redeemed("transfer", "Your friend's gift card is now in your wallet." + NEW_CODE, card)
        except TransferNotFound:
            pass  # a campaign's own code may look the same
    if looks_like_gift_code(text):
        try:
            gift = redeem_gift_code(session, vault, text, user)
            return Redeemed("gift", gift.message + ".", gift=gift)
        except NotFound:
            pass  # a campaign's own code may look the same
    try:
        redeemed = redeem_code(session, vault, user, text, channel=channel)
    except NotFound:
        raise NotFound(NOT_RECOGNISED, field="code") from None
    return Redeemed(redeemed.kind, redeemed.message + ".", code=redeemed)
