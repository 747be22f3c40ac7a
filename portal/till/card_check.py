"""A card as the till sees it: its balance, and whether it can pay at this store now. No HTTP here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from portal.cards.holds import held_on
from portal.cards.lookup import usable_at
from portal.cards.operations import HELD
from portal.cards.transfers import is_held
from portal.errors import CardExpired, DomainError, ValidationError
from portal.models import GiftCard, Merchant, User
from portal.money import Money
from portal.programme import refuse_redemption


@dataclass
class CardCheck:
    """A card as the till sees it: its balance and whether it can pay here, or why not."""

    card: GiftCard
    balance: Money  # what it can pay now: open holds are not in it
    held: Money  # what open holds reserve of it
    refusal: DomainError | None

    @property
    def status(self) -> str:
        """The card's status as the till must treat it: past its date it is expired, swept or not."""
        return "expired" if isinstance(self.refusal, CardExpired) else self.card.status

    @property
    def can_pay(self) -> bool:
        return self.refusal is None and self.balance.minor > 0

    def suggested(self, due: Money | None) -> Money:
        """What to apply by default: the lesser of the balance and what is still due."""
        return self.balance if due is None or due.minor <= 0 else min(self.balance, due)


def check_card(
    session: Session, card: GiftCard, merchant: Merchant, now: datetime, *, staff: User | None = None
) -> CardCheck:
    """Whether a card can pay at this merchant now, with the reason when it cannot: the same refusals
    a payment would meet (redeem), the programme's rule for gift cards at a till (and for ``staff``'s
    role) and a friend's hold included, so the panel never says "Yes" to a card that Apply will refuse."""
    available, held = Money(card.account.balance, card.currency), Money(held_on(session, card), card.currency)
    try:
        refuse_redemption(session, "gift_card", "till", staff)
        usable_at(card, merchant, now)
        if is_held(session, card, now):
            raise ValidationError(f"{HELD}: it cannot pay until they claim it or the giver takes it back")
    except DomainError as refusal:
        return CardCheck(card, available, held, refusal)
    return CardCheck(card, available, held, None)
