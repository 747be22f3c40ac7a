"""Refunding a paid order: what is left on its cards goes back to the payments clearing account,
the cards are cancelled, and the provider pays the buyer back that much (never what was spent).
A top-up gives back what is left of it on the card (which stays the customer's) or in the wallet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.cards.lookup import lock_card, locked_balance
from portal.cards.transfers import end_pending
from portal.errors import ValidationError
from portal.events import kinds as events
from portal.ledger import Actor, audit, fingerprint, post, required_reason, system_account
from portal.models import Account, GiftCard, User, utcnow
from portal.models.orders import Order, OrderLine
from portal.money import Money, format_minor
from portal.orders.payment import CLEARING
from portal.payments import PaymentProvider
from portal.wallet import wallet_account


@dataclass(frozen=True)
class Refund:
    refunded: int
    spent: int
    currency: str

    def describe(self) -> str:
        said = f"Refunded {Money(self.refunded, self.currency).display()}"
        if self.spent:
            said += f"; {Money(self.spent, self.currency).display()} had already been spent and stays paid"
        return said


def refund_order(
    session: Session, provider: PaymentProvider, order: Order, *, actor: Actor, reason: str, now: datetime | None = None,
) -> Refund:
    """Refund a paid order once. Raise ValidationError for a blank reason or an order not paid (or refunded)."""
    reason = required_reason(reason)
    now = now or utcnow()
    won = session.execute(
        sa.update(Order).where(Order.id == order.id, Order.state.in_(("paid", "fulfilled"))).values(state="refunded"),
        execution_options={"synchronize_session": False},
    ).rowcount
    if not won:
        raise ValidationError("Only a paid order can be refunded, and only once")
    session.refresh(order)
    clearing = system_account(session, CLEARING, order.currency)
    refunded = 0
    for line in order.lines:
        if not _credited(line):  # paid, never issued or credited (it waited for approval)
            refunded += line.amount
            continue
        if line.kind == "wallet_topup":
            wallet = wallet_account(session, session.get(User, order.buyer_id), order.currency)
            held = session.scalar(sa.select(Account.balance).where(Account.id == wallet.id).with_for_update())
            refunded += _take_back(session, order, line, wallet, held, clearing, actor=actor, reason=reason)
            continue
        card = lock_card(session, session.get(GiftCard, line.card_id or line.topup_card_id))
        balance = locked_balance(session, card) if card.status != "cancelled" else 0
        back = _take_back(session, order, line, card.account, balance, clearing, actor=actor, reason=reason, card=card)
        if line.kind == "card" and balance == back:
            card.status = "cancelled"
            end_pending(session, card, "cancelled", now)
        refunded += back
    result = Refund(refunded=refunded, spent=order.total - refunded, currency=order.currency)
    if refunded:
        provider.refund(order.payment_reference, refunded)
    audit(session, actor, "order.refunded", f"order:{order.id}", reason, refunded=refunded, spent=result.spent)
    session.flush()
    events.order_changed(session, "order.refunded", order, refunded=format_minor(refunded, order.currency))
    return result


def _credited(line: OrderLine) -> bool:
    return line.card_id is not None if line.kind == "card" else line.delivered_at is not None


def _take_back(
    session: Session, order: Order, line: OrderLine, account: Account, balance: int, clearing: Account, *,
    actor: Actor, reason: str, card: GiftCard | None = None,
) -> int:
    """Move what is left of the line's value (at most its amount) back to clearing; returns how much.

    What was spent stays paid; more value added since (a top-up of a bought card) is the customer's.
    """
    back = min(balance, line.amount)
    if back:
        post(
            session, kind="refund", actor=actor, idempotency_key=f"order-refund:{line.id}",
            request_hash=fingerprint("order-refund", line.id, back), legs=[(account, -back), (clearing, back)],
            card_id=card.id if card else None, memo=f"Refund of order {order.reference}: {reason}",
        )
    return back
