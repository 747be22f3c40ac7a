"""Top-ups paid by card: a signed-in customer adds value to one of their own cards, or to their
wallet credit, through an order and the payment provider like any purchase (issue 25).

Before payment the amount is checked against the programme (minimum and maximum purchase, the
card's maximum balance, the customer's day); when the webhook confirms the payment the value moves
from the payments clearing account in the order's transaction, under the line's key, so once only.
The maximum balance is enforced again there by the ledger's own UPDATE, the day by daily_loads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from portal.cards.lookup import usable_at
from portal.cards.operations import load_paid
from portal.errors import CurrencyMismatch, LimitExceeded, ValidationError
from portal.ledger import SYSTEM, fingerprint, post
from portal.models import Account, GiftCard, User, utcnow
from portal.models.orders import Order, OrderLine
from portal.money import Money
from portal.orders.placing import open_order
from portal.orders.programme import Programme, check_amount_limits
from portal.payments import PaymentProvider
from portal.wallet import wallet_account


def check_topup(programme: Programme, card: GiftCard | None, raw_amount: object, now: datetime | None = None) -> Money:
    """The amount of a top-up of ``card`` (None: wallet credit) within the programme's limits.

    Raise ValidationError for a bad amount, CurrencyMismatch for a card in another currency, the
    card's own refusal if it cannot take value (cancelled, frozen, expired), LimitExceeded past
    the purchase limits or the card's maximum balance (saying how much it can still take).
    """
    amount = Money.parse(raw_amount, programme.currency)
    check_amount_limits(programme, amount)
    if card is None:
        return amount
    if card.currency != programme.currency:
        raise CurrencyMismatch(f"This card is in {card.currency}; the shop sells {programme.currency}")
    usable_at(card, None, now)
    room = programme.max_card_balance - card.account.balance
    if amount.minor > room:
        raise LimitExceeded(
            f"A gift card may hold at most {programme.money(programme.max_card_balance)}: "
            f"this one can take {programme.money(max(room, 0))} more", field="amount",
        )
    return amount


def place_topup(
    session: Session, provider: PaymentProvider, programme: Programme, *, customer: User, card: GiftCard | None,
    amount: object, return_url: Callable[[str], str], now: datetime | None = None,
) -> tuple[Order, str]:
    """A pending order topping up ``card`` (the customer's own) or, with None, their wallet credit.

    Returns the order and the provider's payment URL. Raise as ``check_topup`` does, and
    LimitExceeded past the customer's day; ValidationError for a card that is not theirs.
    """
    now = now or utcnow()
    if card is not None and card.owner_id != customer.id:
        raise ValidationError("You can only top up your own cards", field="amount")
    value = check_topup(programme, card, amount, now)
    line = OrderLine(
        kind="wallet_topup" if card is None else "card_topup", amount=value.minor,
        topup_card_id=card.id if card is not None else None,
    )
    what = "wallet credit" if card is None else f"card {card.code.masked}"
    return open_order(
        session, provider, programme, buyer=customer, buyer_email=customer.email, lines=[line],
        description=f"Giftloop top-up of {what}", return_url=return_url, now=now,
    )


def credit_topup(session: Session, order: Order, line: OrderLine, clearing: Account, now: datetime) -> None:
    """Move a paid top-up from ``clearing`` onto its card or into the buyer's wallet, once (the line's key).

    Raise what ``load_paid`` raises for a card that can no longer take it.
    """
    value = Money(line.amount, order.currency)
    key, memo = f"order-line:{line.id}", f"Topped up by card, order {order.reference}"
    if line.kind == "card_topup":
        load_paid(
            session, session.get(GiftCard, line.topup_card_id), value, funding=[(clearing, -value.minor)],
            owner_id=order.buyer_id, idempotency_key=key, memo=memo, now=now,
        )
    else:
        wallet = wallet_account(session, session.get(User, order.buyer_id), order.currency)
        post(
            session, kind="load", actor=SYSTEM, idempotency_key=key,
            request_hash=fingerprint("wallet-topup", line.id, value.minor),
            legs=[(clearing, -value.minor), (wallet, value.minor)], memo=memo,
        )
    line.delivered_at = now
