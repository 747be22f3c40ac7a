"""A sale at the till, read back from the ledger, and the cards offered to pay it. No HTTP here.

A sale is an id the checkout page makes up and a purchase total. Every card payment for it is
a redemption whose reference names the sale, so what is applied and what is still to pay are
always read from the ledger: a reload, a retry or a second till sees the same numbers.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from portal.campaigns.codes import display_code
from portal.campaigns.coupons import redeem_coupon
from portal.cards.codes import CodeVault
from portal.errors import ValidationError
from portal.ledger import Actor
from portal.loyalty.points import loops_for_purchase, pay_with_loops, quote
from portal.models import GiftCard, Merchant, Transaction, User
from portal.models.campaigns import CampaignCode, CampaignUse
from portal.money import Money
from portal.notifications.messages import sale_receipt
from portal.till.queries import at_counter, masked_codes, tender_source, undone_ids
from portal.till.shopper import NOT_PRESENT, Shopper
from portal.wallet import pay_from_wallet

_HEX32 = re.compile(r"[0-9a-f]{32}")
_WHOLE = re.compile(r"[0-9]{1,12}")
STALE_FORM = "This form is out of date. Reload the page and try again."
# A looked-up card may be applied for this long; then it must be scanned again.
TICKET_SECONDS = 30 * 60
ONE_COUPON = "This sale already has a coupon: one coupon per sale."


def new_id() -> str:
    """A fresh random id for a sale or a form (uuid4, 32 hex digits)."""
    return uuid.uuid4().hex


def web_key(form_key: str | None) -> str:
    """The ledger idempotency key of a rendered form. Raise ValidationError if it was tampered with."""
    form_key = (form_key or "").strip().lower()
    if not _HEX32.fullmatch(form_key):
        raise ValidationError(STALE_FORM)
    return f"web:{form_key}"


def loops_key(sale_id: str) -> str:
    """One Loops award per sale, whoever presses the button and however often."""
    return f"web:loops:{sale_id}"


# --- Looked-up cards -------------------------------------------------------------------------


def _tickets(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="giftloop-till-card")


def card_ticket(secret: str, card: GiftCard, user_id: int) -> str:
    """A signed, short-lived note that this staff member looked this card up by its code.

    The apply form carries it instead of the code (a QR token lasts two minutes) or the card's
    id (which anyone could change to charge another card).
    """
    return _tickets(secret).dumps({"card": card.id, "user": user_id})


def card_from_ticket(session: Session, secret: str, ticket: str | None, user_id: int) -> GiftCard:
    """The card a ticket names. Raise ValidationError if it is forged, another user's or too old."""
    try:
        note = _tickets(secret).loads(ticket or "", max_age=TICKET_SECONDS)
    except SignatureExpired:
        raise ValidationError("It has been a while since this card was scanned: please scan it again") from None
    except BadSignature:
        raise ValidationError(STALE_FORM) from None
    card = session.get(GiftCard, note.get("card")) if note.get("user") == user_id else None
    if card is None:
        raise ValidationError(STALE_FORM)
    return card


# --- The sale ----------------------------------------------------------------------------------


@dataclass
class Tender:
    """One payment towards the sale: from a card, the customer's wallet credit or their Loops."""

    transaction: Transaction
    card: str
    applied: Money
    undone: bool
    source: str = "card"
    loops: int = 0

    @property
    def label(self) -> str:
        if self.source == "wallet":
            return "Wallet credit"
        if self.source == "loops":
            return f"{self.loops} Loops"
        return self.card




@dataclass
class Coupon:
    """The coupon used on the sale: its code as staff may see it and what it took off."""

    use: CampaignUse
    label: str
    discount: Money


@dataclass
class Sale:
    id: str
    currency: str
    total: Money | None = None
    tenders: list[Tender] = field(default_factory=list)
    coupon: Coupon | None = None
    loops: Transaction | None = None
    loops_to: User | None = None
    owner_ids: list[int] = field(default_factory=list)
    customer: Shopper | None = None  # None: an anonymous sale (bearer cards and open coupons only)

    @property
    def reference(self) -> str:
        return sale_reference(self.id)

    @property
    def card_paid(self) -> bool:
        """Whether a card has paid towards the sale (undone payments do not count)."""
        return any(not t.undone for t in self.tenders)

    @property
    def started(self) -> bool:
        """Whether money has moved or a coupon was used for this sale: the total can no longer change."""
        return self.card_paid or self.coupon is not None

    @property
    def takes_coupon(self) -> bool:
        """Whether the coupon field is offered: the total is known, no card has paid, no Loops or coupon yet."""
        return (
            self.total is not None and not self.card_paid and self.coupon is None and self.loops is None
            and not self.paid
        )

    @property
    def discount(self) -> Money:
        """What the coupon took off the total (nothing without one)."""
        return self.coupon.discount if self.coupon is not None else Money(0, self.currency)

    @property
    def total_after(self) -> Money | None:
        """What the customer pays: the total less the coupon's discount; None until the total is known."""
        if self.total is None:
            return None
        return Money(max(0, self.total.minor - self.discount.minor), self.currency)

    def applied(self, *, leaving_out: str | None = None) -> Money:
        """What the cards have paid so far (undone payments do not count)."""
        minor = sum(
            t.applied.minor for t in self.tenders
            if not t.undone and t.transaction.idempotency_key != leaving_out
        )
        return Money(minor, self.currency)

    def due(self, *, leaving_out: str | None = None) -> Money | None:
        """What is still to pay by other means; None until the total is known."""
        if self.total is None:
            return None
        return Money(max(0, self.total_after.minor - self.applied(leaving_out=leaving_out).minor), self.currency)

    @property
    def paid(self) -> bool:
        return self.total is not None and self.due().minor == 0

    @property
    def loops_earned(self) -> Money | None:
        """The Loops awarded for this sale, once they are."""
        if self.loops is not None:
            return Money(sum(e.amount for e in self.loops.entries if e.amount > 0 and e.currency == "LOOP"), "LOOP")
        return None


@dataclass
class ReceiptLine:
    """One line of the sale's receipt: the coupon or a payment, and what was left to pay after it."""

    label: str
    amount: Money
    left: Money
    tender: Tender | None = None  # None for the coupon


def receipt_lines(sale: Sale) -> list[ReceiptLine]:
    """The coupon, then each payment in the order taken, each with what was left to pay after it
    (an undone payment is listed and leaves it unchanged)."""
    if sale.total is None:
        return []
    left = sale.total.minor
    lines = []
    if sale.coupon is not None:
        left -= sale.discount.minor
        lines.append(ReceiptLine(f"Coupon {sale.coupon.label}", sale.discount, Money(max(0, left), sale.currency)))
    for tender in sale.tenders:
        if not tender.undone:
            left -= tender.applied.minor
        lines.append(ReceiptLine(tender.label, tender.applied, Money(max(0, left), sale.currency), tender))
    return lines


def on_sale_receipt(sale: Sale, card: GiftCard) -> bool:
    """Whether a card's payment is told on the sale's one receipt: the sale's customer's own cards are;
    anyone else's card tells its owner at once (they were not at the till)."""
    return sale.customer is not None and card.owner_id == sale.customer.user.id


def send_receipt_if_paid(session: Session, sale: Sale, merchant: Merchant) -> None:
    """Once the sale is paid in full, queue one e-mail to its customer with every line (once per sale)."""
    if not sale.paid or sale.customer is None:
        return
    lines = [
        {"label": line.label, "amount": line.amount.minor, "left": line.left.minor, "coupon": line.tender is None}
        for line in receipt_lines(sale) if line.tender is None or not line.tender.undone
    ]
    sale_receipt(session, sale.customer.user, merchant, sale.reference, sale.total.minor, sale.currency, lines)


def sale_reference(sale_id: str) -> str:
    """The reference every card payment of a sale carries in the ledger."""
    return f"till:{sale_id}"


def sale_id(text: str | None) -> str:
    """A sale id from a form. Raise ValidationError if it was tampered with."""
    text = (text or "").strip().lower()
    if not _HEX32.fullmatch(text):
        raise ValidationError(STALE_FORM)
    return text


def parse_total(text: str | None, currency: str) -> Money | None:
    """The purchase total typed at the till; None when left empty. Raise ValidationError (field total)."""
    if text is None or not text.strip():
        return None
    try:
        return Money.parse(text, currency)
    except ValidationError as error:
        raise ValidationError(error.message, field="total") from None


def lock_sale(session: Session, sale: str | None) -> None:
    """Let one payment of a sale at a time decide how much is still due, until it commits.

    Two tabs or two tills paying the same sale would each see the same amount due and together
    pay more than it. On PostgreSQL a transaction-scoped advisory lock on the sale makes the
    second wait and then read what the first paid; SQLite has one writer at a time.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"sale:{sale_id(sale)}".encode()).digest()
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True))))


def open_sale(
    session: Session, merchant: Merchant, sale: str | None, total: Money | None, *, vault: CodeVault | None = None,
    customer: Shopper | None = None,
) -> Sale:
    """The sale as the ledger knows it: its coupon and card payments at this counter and its Loops award.

    Once a coupon is used, the total is the one its discount was worked out on, whatever a form says.
    ``vault`` shows a shared (vanity) coupon code in full; without it, or for a one-off code, it is masked.
    ``customer`` is whom staff named for the sale (the forms carry it).
    """
    state = Sale(id=sale_id(sale), currency=merchant.currency, total=total, customer=customer)
    state.coupon = sale_coupon(session, merchant, state.reference, vault)
    if state.coupon is not None and state.coupon.use.order_total is not None:
        state.total = Money(state.coupon.use.order_total, merchant.currency)
    transactions = session.scalars(
        sa.select(Transaction)
        .where(at_counter(merchant), Transaction.kind == "redeem", Transaction.reference == state.reference)
        .order_by(Transaction.id)
    ).all()
    undone = undone_ids(session, [t.id for t in transactions])
    card_ids = {t.card_id for t in transactions if t.card_id is not None}
    codes = masked_codes(session, card_ids)
    for t in transactions:
        # What the store is owed for it: a Loops payment also debits Loops and the promotions account.
        paid = sum(e.amount for e in t.entries if e.amount > 0 and e.account.kind == "settlement")
        loops = -sum(e.amount for e in t.entries if e.account.kind == "loops")
        state.tenders.append(Tender(
            t, codes.get(t.card_id, ""), Money(paid, merchant.currency), t.id in undone, tender_source(t), loops,
        ))
    if card_ids:
        owners = session.scalars(
            sa.select(GiftCard.owner_id).where(GiftCard.id.in_(card_ids), GiftCard.owner_id.is_not(None))
        )
        state.owner_ids = list(dict.fromkeys(owners))
    state.loops = session.scalar(
        sa.select(Transaction).where(
            at_counter(merchant), Transaction.kind == "points_earn", Transaction.idempotency_key == loops_key(state.id)
        )
    )
    if state.loops is not None:
        earner = next((e.account.owner_id for e in state.loops.entries if e.account.kind == "loops"), None)
        state.loops_to = session.get(User, earner) if earner is not None else None
    return state


def sale_coupon(session: Session, merchant: Merchant, reference: str, vault: CodeVault | None) -> Coupon | None:
    """The coupon used at this counter for the sale with this reference, if any."""
    use = session.scalar(
        sa.select(CampaignUse)
        .where(CampaignUse.reference == reference, CampaignUse.merchant_id == merchant.id)
        .order_by(CampaignUse.id)
        .limit(1)
    )
    if use is None:
        return None
    code = session.get(CampaignCode, use.campaign_code_id)
    shared = vault is not None and code.campaign.code_mode == "vanity"
    label = display_code(vault, code.code) if shared else code.code.masked
    return Coupon(use, label, Money(use.discount or 0, use.currency or merchant.currency))


def coupon_uses(session: Session, merchant: Merchant, reference: str) -> int:
    return session.scalar(
        sa.select(sa.func.count(CampaignUse.id))
        .where(CampaignUse.reference == reference, CampaignUse.merchant_id == merchant.id)
    )


def add_coupon(
    session: Session, vault: CodeVault, sale: Sale, merchant: Merchant, text: str | None, *, user_id: int,
    channel: str = "web",
) -> Coupon:
    """Use a coupon on the sale: one use counted (for the sale's customer, if named), its discount
    taken off what is due.

    Raise ValidationError if the total is not known yet, a card has paid already or the sale has
    a coupon, and whatever ``redeem_coupon`` raises (unknown, expired, used up, below the minimum order…).
    """
    if sale.coupon is not None:
        raise ValidationError(ONE_COUPON, field="code")
    if sale.total is None:
        raise ValidationError("Enter the purchase total first", field="code")
    if sale.card_paid or sale.loops is not None:
        raise ValidationError("This sale is under way: a coupon must come before the cards and the Loops", field="code")
    redeem_coupon(
        session, vault, text or "", order_total=sale.total, merchant=merchant, channel=channel,
        email=sale.customer.user.email if sale.customer else None, reference=sale.reference, user_id=user_id,
    )
    # Two tills sending the same sale at once: the later one sees the other's use and gives way.
    if coupon_uses(session, merchant, sale.reference) > 1:
        raise ValidationError(ONE_COUPON, field="code")
    coupon = sale_coupon(session, merchant, sale.reference, vault)
    sale.coupon = coupon
    return coupon


def check_amount(amount: Money, sale: Sale, idempotency_key: str) -> None:
    """Refuse to take more from a card than the sale still needs.

    The payment this form may already have made is left out, so a resubmitted form replays.
    """
    due = sale.due(leaving_out=idempotency_key)
    if due is not None and amount > due:
        raise ValidationError(f"That is more than the {due.display()} still to pay", field="amount")


def present_customer(sale: Sale, what: str) -> User:
    """The sale's customer, if they proved they are here. Raise ValidationError otherwise."""
    if sale.total is None:
        raise ValidationError("Enter the purchase total first")
    if sale.customer is None:
        raise ValidationError(f"Name the customer first: only they can spend their {what}")
    if not sale.customer.present:
        raise ValidationError(NOT_PRESENT.format(what=what))
    return sale.customer.user


def pay_by_wallet(
    session: Session, sale: Sale, merchant: Merchant, text: str | None, *, actor: Actor, idempotency_key: str
) -> Transaction:
    """Pay part or all of what is due from the customer's wallet credit in the store's currency.

    Raise ValidationError (customer not here, bad amount, more than is due) and whatever
    ``pay_from_wallet`` raises (InsufficientFunds when the wallet holds less).
    """
    customer = present_customer(sale, "wallet credit")
    amount = Money.parse(text, merchant.currency)
    check_amount(amount, sale, idempotency_key)
    return pay_from_wallet(
        session, customer, amount, merchant, actor=actor, idempotency_key=idempotency_key, reference=sale.reference
    )


def whole_loops(text: str | None) -> int:
    """A whole number of Loops typed at the till. Raise ValidationError (field loops)."""
    text = (text or "").strip().replace(",", "")
    if not _WHOLE.fullmatch(text) or int(text) <= 0:
        raise ValidationError("Give a whole number of Loops, like 250", field="loops")
    return int(text)


def loops_for_due(customer: User, sale: Sale, merchant: Merchant, idempotency_key: str | None = None) -> int:
    """The fewest whole Loops that pay what is still due (the most a sale takes)."""
    return quote(customer, sale.due(leaving_out=idempotency_key), merchant)


def pay_by_loops(
    session: Session, sale: Sale, merchant: Merchant, text: str | None, *, actor: Actor, idempotency_key: str
) -> Transaction:
    """Take whole Loops off what is due, at the customer's conversion rate here.

    Raise ValidationError (customer not here, not a whole number, more Loops than the sale needs)
    and whatever ``pay_with_loops`` raises (InsufficientFunds when the customer has fewer).
    """
    customer = present_customer(sale, "Loops")
    loops = whole_loops(text)
    most = loops_for_due(customer, sale, merchant, idempotency_key)
    if loops > most:
        due = sale.due(leaving_out=idempotency_key)
        raise ValidationError(f"{most} Loops pay the {due.display()} still to pay: use at most that", field="loops")
    return pay_with_loops(
        session, customer, loops, merchant, up_to=sale.due(leaving_out=idempotency_key), actor=actor,
        idempotency_key=idempotency_key, reference=sale.reference,
    )


def loops_customer(session: Session, sale: Sale, email: str | None) -> User:
    """Who earns the sale's Loops: the customer named by e-mail, else the sale's customer, else the
    owner of a card used.

    Raise ValidationError if nobody is named and no card used has an owner, or the e-mail is
    not a customer's.
    """
    customer = customer_by_email(session, email)
    if customer is not None:
        return customer
    if sale.customer is not None:
        return sale.customer.user
    if sale.owner_ids:
        return session.get(User, sale.owner_ids[0])
    raise ValidationError("Enter the customer's e-mail address: no card in this sale belongs to an account", field="email")


def customer_by_email(session: Session, email: str | None) -> User | None:
    """The customer with this e-mail address; None when none is given. Raise ValidationError if nobody has it."""
    email = (email or "").strip().lower()
    if not email:
        return None
    customer = session.scalar(sa.select(User).where(User.email == email)) if len(email) <= 254 else None
    if customer is None or not customer.is_customer:
        raise ValidationError("No Giftloop customer has that e-mail address", field="email")
    return customer


def loops_offered(sale: Sale, merchant: Merchant) -> int:
    """Loops the purchase earns at the merchant's rate on what the customer pays (0 until the total is known)."""
    return loops_for_purchase(sale.total_after, merchant) if sale.total is not None else 0


def card_owner(session: Session, sale: Sale) -> User | None:
    """Whom the Loops go to when no e-mail is given: the sale's customer, else the owner of a card used."""
    if sale.customer is not None:
        return sale.customer.user
    return session.get(User, sale.owner_ids[0]) if sale.owner_ids else None
