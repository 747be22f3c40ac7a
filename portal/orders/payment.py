"""A payment confirmed by the provider's webhook: the order turns paid and its cards are issued.

Never on the buyer's browser coming back (anyone can load a return URL): only a webhook whose
signature the provider's own verifier accepts. The order turns ``paid`` in one conditional UPDATE
(``WHERE state IN ('pending', 'expired')``), and only the request whose UPDATE changed the row
issues the cards, in the same database transaction. A second delivery of the same event, or a
concurrent one (PostgreSQL makes it wait on the row and then finds it paid), changes nothing; a
late "failed" or "abandoned" after "paid" finds no pending order and changes nothing either.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.cards.codes import CodeVault
from portal.cards.operations import PURCHASED_MIN_DAYS, IssuedCard, new_card
from portal.errors import CardCancelled, CardExpired, CardFrozen, Forbidden, LimitExceeded, ValidationError
from portal.events import kinds as events
from portal.ledger import SYSTEM, audit, fingerprint, savepoint, system_account
from portal.models import utcnow
from portal.models.orders import Order, OrderLine
from portal.money import Money
from portal.orders.bulk import send_codes
from portal.orders.daily_loads import record_load
from portal.orders.delivery import deliver, fulfil_if_done
from portal.orders.topups import credit_topup
from portal.payments import EXPIRED, FAILED, PAID, PaymentEvent, PaymentProvider

# Money a provider has taken for us and not yet paid out; a card bought online is funded from it.
CLEARING = "payments_clearing"
# What a confirmed payment can meet that the order's checks could not foresee: it is refunded.
REFUSED_AT_PAYMENT = (LimitExceeded, Forbidden, CardCancelled, CardFrozen, CardExpired)


def receive_webhook(
    session: Session, vault: CodeVault, provider: PaymentProvider, body: bytes, headers: Mapping[str, str],
    *, now: datetime | None = None,
) -> str:
    """Verify a webhook and act on it; returns what happened ("issued", "already", "declined", …).

    Raise InvalidWebhook if the provider's verifier refuses it (nothing changes).
    """
    event = provider.parse_webhook(body, headers)
    order = session.scalar(
        sa.select(Order).where(Order.reference == event.order_reference, Order.provider == provider.name)
    )
    if order is None or order.payment_reference != event.payment_reference:
        return "unknown"  # not ours: acknowledged, so the provider stops retrying
    if event.outcome == PAID:
        try:
            with savepoint(session):
                return _paid(session, vault, order, event, now or utcnow())
        except REFUSED_AT_PAYMENT:
            # A limit passed since the order (an admin lowered it, or another payment of the buyer's
            # filled the day or the card first), or the card to top up was frozen, cancelled, expired
            # or given away meanwhile: nothing is issued and the buyer gets the money back.
            return _refund_refused(session, provider, order, now or utcnow())
    if event.outcome == EXPIRED:
        return "expired" if _expire(session, order.id, now or utcnow()) else "already"
    if event.outcome == FAILED:
        return "declined"  # the buyer may try again while the order is pending
    return "waiting"


def _paid(session: Session, vault: CodeVault, order: Order, event: PaymentEvent, now: datetime) -> str:
    if (event.amount, event.currency) != (order.total, order.currency):
        return "mismatch"  # never issue more than was paid for
    won = session.execute(
        sa.update(Order)
        .where(Order.id == order.id, Order.state.in_(("pending", "expired")))
        .values(state="paid", paid_at=now)
        .returning(Order.id),
        execution_options={"synchronize_session": False},
    ).scalar()
    if won is None:
        return "already"
    session.refresh(order)
    record_load(session, order, now)  # the daily maximum, in its own conditional UPDATE
    events.order_changed(session, "order.paid", order)
    if order.approval_required:
        session.flush()
        return "awaiting approval"  # paid; an admin approves before any card exists
    issue_lines(session, vault, order, now)
    return "issued"


def issue_lines(session: Session, vault: CodeVault, order: Order, now: datetime) -> None:
    """Issue the cards of a paid order and send those due now, and credit its top-ups (each line's
    key makes it once)."""
    for line in order.lines:
        if line.kind != "card":
            credit_topup(session, order, line, system_account(session, CLEARING, order.currency), now)
            continue
        issued = _issue(session, vault, order, line, now)
        line.card_id = issued.card.id
        if order.bulk:
            line.delivered_at = now  # its code goes to the buyer in the order's one e-mail
        elif line.deliver_on is None:
            deliver(session, order, line, issued, now)
    if order.bulk:
        send_codes(session, order)
    fulfil_if_done(order, now)
    session.flush()


def approve(session: Session, vault: CodeVault, order: Order, *, actor, now: datetime | None = None) -> None:
    """An admin lets a paid order that needed approval have its cards. Raise ValidationError otherwise."""
    now = now or utcnow()
    won = session.execute(
        sa.update(Order)
        .where(Order.id == order.id, Order.state == "paid", Order.approval_required, Order.approved_at.is_(None))
        .values(approved_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    if not won:
        raise ValidationError("Only a paid order waiting for approval can be approved, and only once")
    session.refresh(order)
    audit(session, actor, "order.approved", f"order:{order.id}")
    issue_lines(session, vault, order, now)


def _refund_refused(session: Session, provider: PaymentProvider, order: Order, now: datetime) -> str:
    session.expire(order)
    refused = session.execute(
        sa.update(Order).where(Order.id == order.id, Order.state.in_(("pending", "expired")))
        .values(state="refunded", paid_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    if refused:
        provider.refund(order.payment_reference, order.total)
    return "refunded"


def _issue(session: Session, vault: CodeVault, order: Order, line: OrderLine, now: datetime) -> IssuedCard:
    value = Money(line.amount, order.currency)
    clearing = system_account(session, CLEARING, order.currency)
    # A card for the signed-in buyer themselves is theirs; any other (a friend's, a bulk order's to
    # hand out) is a bearer card, e-mailed.
    owner_id = order.buyer_id if line.recipient_email is None and not order.bulk else None
    return new_card(
        session, vault, value=value, funding=[(clearing, -value.minor)], actor=SYSTEM,
        idempotency_key=f"order-line:{line.id}", request_hash=fingerprint("order-line", line.id, value.minor),
        owner_id=owner_id, scope_id=None, kind="purchased", days=PURCHASED_MIN_DAYS, transaction_kind="issue",
        memo=f"Bought online, order {order.reference}", now=now,
    )


def _expire(session: Session, order_id: int, now: datetime) -> bool:
    return session.execute(
        sa.update(Order).where(Order.id == order_id, Order.state == "pending").values(state="expired"),
        execution_options={"synchronize_session": False},
    ).rowcount == 1


def expire_unpaid(session: Session, now: datetime | None = None) -> int:
    """End orders still unpaid past their time; returns how many. (A payment confirmed later still counts.)"""
    return session.execute(
        sa.update(Order).where(Order.state == "pending", Order.expires_at < (now or utcnow())).values(state="expired"),
        execution_options={"synchronize_session": False},
    ).rowcount
