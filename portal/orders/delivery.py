"""Gifts for a delivery date: e-mailed by the hourly order sweep on their day, the buyer told."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.cards.codes import CodeVault
from portal.cards.operations import IssuedCard
from portal.models import GiftCard, Transaction, utcnow
from portal.models.orders import Order, OrderLine
from portal.notifications.messages import card_received
from portal.notifications.outbox import queue_email

BATCH = 500


def deliver(session: Session, order: Order, line: OrderLine, issued: IssuedCard, now: datetime) -> None:
    """E-mail the card: to the friend with the buyer's message, to a guest buyer, or tell the owner."""
    send_to = line.recipient_email or (order.buyer_email if order.buyer_id is None else None)
    card_received(session, issued, send_to=send_to, note=line.message or None)
    line.delivered_at = now


def issued_card(session: Session, vault: CodeVault, card_id: int) -> IssuedCard:
    """An order's card as it was issued, with its code, to e-mail it later."""
    card = session.get(GiftCard, card_id)
    issuing = session.scalar(sa.select(Transaction).where(Transaction.card_id == card.id, Transaction.kind == "issue"))
    return IssuedCard(card=card, code=vault.decrypt(card.code.ciphertext), transaction=issuing)


def fulfil_if_done(order: Order, now: datetime) -> None:
    """A paid order whose every card has gone out is fulfilled."""
    if order.state == "paid" and all(line.delivered_at is not None for line in order.lines):
        order.state, order.fulfilled_at = "fulfilled", now


def deliver_due(session: Session, vault: CodeVault, now: datetime | None = None) -> int:
    """Send every paid gift whose delivery date has come (UTC), telling each buyer; returns how many.

    A line is sent once: its ``delivered_at`` is set in the transaction that queues the e-mail,
    and the e-mail's key is the card's, so a sweep run twice sends nothing more.
    """
    now = now or utcnow()
    due = session.scalars(
        sa.select(OrderLine).join(Order)
        .where(Order.state == "paid", OrderLine.delivered_at.is_(None), OrderLine.card_id.is_not(None),
               OrderLine.deliver_on <= now.date())
        .order_by(OrderLine.id).limit(BATCH).with_for_update(of=OrderLine, skip_locked=True)
    ).all()
    for line in due:
        deliver(session, line.order, line, issued_card(session, vault, line.card_id), now)
        queue_email(
            session, key=f"gift_delivered:{line.id}", to=line.order.buyer_email, kind="gift_delivered",
            context={"amount": line.amount, "currency": line.order.currency,
                     "to_name": line.recipient_name or line.recipient_email, "reference": line.order.reference},
        )
        fulfil_if_done(line.order, now)
    session.flush()
    return len(due)
