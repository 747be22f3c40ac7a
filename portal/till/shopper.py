"""The customer at the till: who they are for this sale, and what they can use here. No HTTP here.

Staff name the customer by e-mail, by the customer code on the customer's wallet page, or by
scanning the QR code of one of the customer's cards. An e-mail address is known to many people,
so it only names the customer (for a coupon's rules and for Loops earned); the code and the QR
change every few minutes and are on the customer's own phone, so they show the customer is at
the counter and let the till spend the customer's wallet credit and Loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from portal.cards.codes import CodeVault, QrTokens, is_qr_token
from portal.cards.lookup import find_card
from portal.customer_codes import CustomerCodes, is_customer_code
from portal.errors import NotFound, ValidationError
from portal.ledger import balance_by_key
from portal.loyalty.points import conversion_rate, loops_value
from portal.models import GiftCard, Merchant, User
from portal.money import Money
from portal.till.card_check import check_card

# A customer named at the till stays on the sale's forms this long; then they are named again.
TICKET_SECONDS = 30 * 60
STALE = "This form is out of date. Reload the page and try again."
WHO = "Type the customer's e-mail address or the customer code shown on their wallet page"
STALE_CODE = "That customer code is not valid now: ask the customer to reload their wallet page"
NOT_PRESENT = "Ask the customer for the customer code on their wallet page: an e-mail address cannot spend their {what}"


@dataclass
class Shopper:
    """The customer of a sale; ``present`` when they proved it with their code or a card's QR."""

    user: User
    present: bool

    @property
    def first_name(self) -> str:
        return (self.user.name or "").split(" ")[0] or self.user.email.partition("@")[0]


def _tickets(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="giftloop-till-customer")


def shopper_ticket(secret: str, shopper: Shopper | None, staff_id: int, sale_id: str) -> str:
    """A signed note, carried by the sale's forms, of whom this staff member named for this sale."""
    if shopper is None:
        return ""
    return _tickets(secret).dumps(
        {"user": shopper.user.id, "present": shopper.present, "staff": staff_id, "sale": sale_id}
    )


def shopper_from_ticket(
    session: Session, secret: str, ticket: str | None, staff_id: int, sale_id: str | None
) -> Shopper | None:
    """The customer a form names; None for an anonymous sale. Raise ValidationError if forged,
    another staff member's or sale's (a customer who proved they were here is so for one sale), or too old."""
    if not ticket:
        return None
    try:
        note = _tickets(secret).loads(ticket, max_age=TICKET_SECONDS)
    except SignatureExpired:
        raise ValidationError("It has been a while since the customer was named: please name them again") from None
    except BadSignature:
        raise ValidationError(STALE) from None
    ours = note.get("staff") == staff_id and note.get("sale") == (sale_id or "").strip().lower()
    user = session.get(User, note.get("user")) if ours else None
    if user is None or not user.is_customer:
        raise ValidationError(STALE)
    return Shopper(user, bool(note.get("present")))


def identify(session: Session, text: str | None, *, codes: CustomerCodes, vault: CodeVault, qr: QrTokens) -> Shopper:
    """The customer named by a customer code, a card's QR token or an e-mail address.

    Raise ValidationError (field ``who``) for nothing typed or a card without an owner, NotFound
    for a code that is not valid now or an address no customer has (both count as guesses).
    """
    text = (text or "").strip()
    if not text:
        raise ValidationError(WHO, field="who")
    if is_customer_code(text):
        user_id = codes.resolve(text)
        user = session.get(User, user_id) if user_id is not None else None
        if user is None or not user.is_customer:
            raise NotFound(STALE_CODE, field="who")
        return Shopper(user, present=True)
    if is_qr_token(text):
        card = find_card(session, text, vault, qr)
        if card.owner_id is None:
            raise ValidationError("That card belongs to nobody's wallet: it can pay, but it names no customer", field="who")
        return Shopper(session.get(User, card.owner_id), present=True)
    if "@" in text:
        user = session.scalar(sa.select(User).where(User.email == text.lower())) if len(text) <= 254 else None
        if user is None or not user.is_customer:
            raise NotFound("No Giftloop customer has that e-mail address", field="who")
        return Shopper(user, present=False)
    raise ValidationError(WHO, field="who")


@dataclass
class Holdings:
    """What a customer can use at this store: cards valid here, wallet credit, Loops and their worth."""

    cards: list = field(default_factory=list)  # CardCheck of each owned card that can pay here
    wallet: Money | None = None
    loops: int = 0
    rate: int = 0  # Loops per 1.00 here: the store's own rate, else the customer's tier

    @property
    def loops_value(self) -> Money:
        return loops_value(self.loops, self.rate, self.wallet.currency)


def holdings(session: Session, shopper: Shopper, merchant: Merchant, now: datetime) -> Holdings:
    """What the customer holds that pays at this store now."""

    cards = session.scalars(
        sa.select(GiftCard).where(GiftCard.owner_id == shopper.user.id, GiftCard.status == "active").order_by(GiftCard.id)
    ).all()
    usable = [check for check in (check_card(session, card, merchant, now) for card in cards) if check.can_pay]
    user = shopper.user
    return Holdings(
        cards=usable, wallet=Money(balance_by_key(session, f"wallet:{user.id}:{merchant.currency}"), merchant.currency),
        loops=balance_by_key(session, f"loops:{user.id}"), rate=conversion_rate(user, merchant),
    )
