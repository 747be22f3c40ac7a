"""Bulk orders: many bearer cards of one amount in one order (say 50 for a company's staff).

When the payment is confirmed the buyer gets ONE e-mail whose attached CSV lists every code
(written by portal/spreadsheets.py, so no cell runs as a formula); from the order's page each card
can then be e-mailed to its own recipient, once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from portal.cards.codes import CodeVault
from portal.cards.ownership import changed_hands
from portal.emails import normalise_email
from portal.errors import AlreadyRedeemed, NotFound, ValidationError
from portal.formatting import day
from portal.models import GiftCard, User
from portal.models.orders import Order
from portal.money import format_minor
from portal.notifications.messages import card_received
from portal.notifications.outbox import queue_email
from portal.notifications.rendering import attach_to
from portal.orders.delivery import issued_card
from portal.orders.placing import LineRequest, place_order
from portal.orders.programme import Programme, check_cards_per_order
from portal.payments import PaymentProvider
from portal.services import services
from portal.spreadsheets import csv_text

CODES_HEADER = ["Card", "Code", "Amount", "Currency", "Valid until"]


def check_quantity(programme: Programme, raw: object) -> int:
    """How many cards: a whole number from 1 to the programme's maximum per order."""
    text = str(raw if raw is not None else "").strip()
    if not text.isdigit() or int(text) < 1:
        raise ValidationError("Give the number of cards as a whole number, like 50", field="quantity")
    check_cards_per_order(programme, int(text))
    return int(text)


def place_bulk_order(
    session: Session, provider: PaymentProvider, programme: Programme, *, buyer: User | None, buyer_email: str,
    amount: str, quantity: object, design: str, return_url: Callable[[str], str], now: datetime | None = None,
) -> tuple[Order, str]:
    """A pending order of ``quantity`` bearer cards of ``amount``; returns it and the payment URL.

    Raise ValidationError or LimitExceeded (more cards than an order may hold, an amount or a day
    past the programme's limits) with nothing stored.
    """
    count = check_quantity(programme, quantity)
    return place_order(
        session, provider, programme, buyer=buyer, buyer_email=buyer_email,
        lines=[LineRequest(amount=amount, design=design)] * count, return_url=return_url, now=now, bulk=True,
    )


def send_codes(session: Session, order: Order) -> int | None:
    """Queue the one e-mail that gives the buyer every code of a paid bulk order (the CSV is made
    when it is sent, from the cards: no code is stored in the outbox)."""
    return queue_email(
        session, key=f"bulk_codes:{order.id}", to=order.buyer_email, kind="bulk_codes",
        context={"order_id": order.id, "count": len(order.lines), "amount": order.lines[0].amount,
                 "currency": order.currency, "reference": order.reference},
    )


def codes_csv(session: Session, vault: CodeVault, order_id: int) -> str:
    """The CSV of a bulk order's codes. A card claimed into someone's wallet since has a new code
    that is its holder's alone: its row says so instead."""
    order = session.get(Order, order_id)
    rows = []
    for number, line in enumerate(order.lines, 1):
        card = session.get(GiftCard, line.card_id)
        code = "claimed since; no longer valid" if changed_hands(session, card) else vault.decrypt(card.code.ciphertext)
        rows.append([number, code, format_minor(line.amount, order.currency), order.currency, day(card.expires_at)])
    return csv_text(CODES_HEADER, rows)


def email_card(session: Session, vault: CodeVault, order: Order, line_id: int, to: str) -> str:
    """E-mail one card of a paid bulk order to its recipient, once; returns the normalised address.

    Raise NotFound for a line not of this order, ValidationError for an order not paid (or
    refunded), a card already sent or a bad address, AlreadyRedeemed for a card claimed into a wallet since.
    """
    line = next((line for line in order.lines if line.id == line_id), None)
    if not order.bulk or line is None:
        raise NotFound("This order has no such card")
    if order.state == "refunded":
        raise ValidationError("This order was refunded: its cards are cancelled", field="recipient_email")
    if line.card_id is None:
        raise ValidationError("The cards are issued once the payment is confirmed", field="recipient_email")
    if line.recipient_email is not None:
        raise ValidationError(f"This card was already sent to {line.recipient_email}", field="recipient_email")
    address = normalise_email(to, field="recipient_email")
    if changed_hands(session, session.get(GiftCard, line.card_id)):
        raise AlreadyRedeemed("This card has been claimed into someone's wallet; its code is theirs now")
    card_received(session, issued_card(session, vault, line.card_id), send_to=address)
    line.recipient_email = address
    session.flush()
    return address


@attach_to("bulk_codes")
def _codes_attached(session: Session, row) -> list[tuple[str, str]]:
    order_id = row.context["order_id"]
    return [(f"giftloop-cards-{order_id}.csv", codes_csv(session, services().vault, order_id))]
