"""Placing an order: one validation per rule, then a pending order waiting for its payment."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from portal.emails import normalise_email
from portal.errors import DomainError, ValidationError
from portal.models import User, utcnow
from portal.models.orders import CARD_DESIGNS, Order, OrderLine
from portal.money import Money
from portal.orders.daily_loads import check_room
from portal.orders.programme import Programme, check_amount_limits, check_cards_per_order
from portal.payments import PaymentProvider
from portal.programme import refuse_currency

UNPAID_HOURS = 24  # an order not paid by then expires
MAX_DELIVERY_DAYS = 366
MAX_MESSAGE = 500
MAX_NAME = 120


@dataclass(frozen=True)
class LineRequest:
    """One card as the buyer asked for it, before validation (amount in major units, as typed)."""

    amount: str
    design: str = "classic"
    recipient_name: str = ""
    recipient_email: str = ""
    message: str = ""
    deliver_on: date | None = None


def check_amount(programme: Programme, raw: object) -> Money:
    """The amount of one card, within the programme's limits."""
    amount = Money.parse(raw, programme.currency)
    check_amount_limits(programme, amount)
    return amount


def check_delivery(deliver_on: date | None, today: date) -> date | None:
    """A delivery date from today up to a year ahead; None (or today) means now."""
    if deliver_on is None or deliver_on == today:
        return None
    if deliver_on < today:
        raise ValidationError("Choose a delivery date from today on", field="deliver_on")
    if deliver_on > today + timedelta(days=MAX_DELIVERY_DAYS):
        raise ValidationError("Choose a delivery date within a year", field="deliver_on")
    return deliver_on


def order_line(programme: Programme, request: LineRequest, today: date) -> OrderLine:
    """One validated card line. Raise ValidationError or LimitExceeded, naming the field."""
    amount = check_amount(programme, request.amount)
    if request.design not in CARD_DESIGNS:
        raise ValidationError("Choose one of the card designs", field="design")
    name, message = (request.recipient_name or "").strip(), (request.message or "").strip()
    if len(name) > MAX_NAME:
        raise ValidationError(f"Keep the name to {MAX_NAME} characters", field="recipient_name")
    if len(message) > MAX_MESSAGE:
        raise ValidationError(f"Keep the message to {MAX_MESSAGE} characters", field="message")
    recipient = normalise_email(request.recipient_email, field="recipient_email") if request.recipient_email else None
    if recipient is None and (name or message or request.deliver_on):
        raise ValidationError("Give your friend's e-mail address to send them the card", field="recipient_email")
    return OrderLine(
        amount=amount.minor, design=request.design, recipient_name=name, recipient_email=recipient,
        message=message, deliver_on=check_delivery(request.deliver_on, today),
    )


def order_lines(programme: Programme, requests: list[LineRequest], today: date) -> list[OrderLine]:
    """Every line validated; a refusal carries the index of the line at fault as ``line`` (the API
    points at it in the body)."""
    lines = []
    for number, request in enumerate(requests):
        try:
            lines.append(order_line(programme, request, today))
        except DomainError as error:
            error.line = number
            raise
    return lines


def place_order(
    session: Session,
    provider: PaymentProvider,
    programme: Programme,
    *,
    buyer: User | None,
    buyer_email: str,
    lines: list[LineRequest],
    return_url: Callable[[str], str],
    now: datetime | None = None,
    bulk: bool = False,
) -> tuple[Order, str]:
    """Validate the lines, store a pending order and open the provider's checkout for it.

    Returns the order and the URL to send the buyer to; the provider sends them back to
    ``return_url(order reference)`` whether they paid or not. Raise ValidationError (also for a
    currency the programme does not allow cards in), or LimitExceeded for a programme limit
    (nothing stored, nothing charged).
    A signed-in buyer is billed at their own address whatever the form says.
    """
    now = now or utcnow()
    if not lines:
        raise ValidationError("Add a card to the order", field="amount")
    refuse_currency(session, programme.currency, field="amount")
    email = buyer.email if buyer is not None else normalise_email(buyer_email, field="buyer_email")
    checked = order_lines(programme, lines, now.date())
    return open_order(
        session, provider, programme, buyer=buyer, buyer_email=email, lines=checked,
        description=f"Giftloop gift cards ({len(checked)})", return_url=return_url, now=now, bulk=bulk,
    )


def open_order(
    session: Session,
    provider: PaymentProvider,
    programme: Programme,
    *,
    buyer: User | None,
    buyer_email: str,
    lines: list[OrderLine],
    description: str,
    return_url: Callable[[str], str],
    now: datetime,
    bulk: bool = False,
) -> tuple[Order, str]:
    """Store a pending order of validated lines and open the provider's checkout for it.

    Raise LimitExceeded for too many cards or past the buyer's day (nothing stored, nothing charged).
    """
    total = sum(line.amount for line in lines)
    check_cards_per_order(programme, len(lines))
    buyer_id = buyer.id if buyer else None
    check_room(session, programme, total=total, buyer_id=buyer_id, buyer_email=buyer_email, now=now)
    order = Order(
        reference=f"ord_{secrets.token_urlsafe(18)}", buyer_id=buyer_id, buyer_email=buyer_email,
        currency=programme.currency, total=total, state="pending", provider=provider.name,
        created_at=now, expires_at=now + timedelta(hours=UNPAID_HOURS), lines=lines,
        approval_required=programme.approval_above is not None and total > programme.approval_above, bulk=bulk,
    )
    checkout = provider.create_checkout(
        order_reference=order.reference, amount=total, currency=programme.currency, email=buyer_email,
        description=description, success_url=return_url(order.reference), cancel_url=return_url(order.reference),
    )
    order.payment_reference = checkout.payment_reference
    session.add(order)
    session.flush()
    return order, checkout.url
