"""What the shop sells and within which limits: the preset amounts, the card faces, and the
programme limits an admin sets per currency (``programme_limits``; defaults until one is set).

The shop refuses an order that would pass a limit before the buyer pays; the maximum card balance
is also enforced by the ledger's own UPDATE when value enters a card (portal/ledger/posting.py),
and the daily maximum by the UPDATE of the buyer's day when a payment is confirmed
(portal/orders/daily_loads.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy.orm import Session

from portal.errors import LimitExceeded, ValidationError
from portal.ledger import Actor, audit
from portal.models import utcnow
from portal.models.orders import CARD_DESIGNS, ProgrammeLimits
from portal.money import Money, format_minor

DESIGN_NAMES = {"classic": "Classic", "birthday": "Birthday", "thanks": "Thank you", "celebrate": "Celebrate"}
assert set(DESIGN_NAMES) == set(CARD_DESIGNS)
PRESETS = (1000, 2500, 5000, 10000)


@dataclass(frozen=True)
class Programme:
    """The shop's offer and limits in one currency, in minor units."""

    currency: str
    min_purchase: int = 500
    max_purchase: int = 50000
    max_card_balance: int = 100000
    max_daily_per_customer: int = 100000
    max_cards_per_order: int = 50
    approval_above: int | None = None  # orders above it wait for an admin's approval once paid

    @property
    def presets(self) -> tuple[int, ...]:
        return tuple(amount for amount in PRESETS if self.min_purchase <= amount <= self.max_purchase)

    @property
    def suggested(self) -> str:
        """The preset chosen when the shop opens (the second, if there is one), as a form value."""
        presets = self.presets
        return self.plain(presets[min(1, len(presets) - 1)]) if presets else "other"

    def money(self, minor: int) -> str:
        return Money(minor, self.currency).display()

    def plain(self, minor: int) -> str:
        """An amount as a form value in this currency's digits ("25.00"; "2500" in yen)."""
        return format_minor(minor, self.currency)


LIMIT_NAMES = {
    "min_purchase": "Minimum purchase", "max_purchase": "Maximum purchase",
    "max_card_balance": "Maximum card balance", "max_daily_per_customer": "Maximum per customer per day",
    "max_cards_per_order": "Maximum cards per order",
    "approval_above": "Approve orders above",
}


def programme_for(session: Session, currency: str) -> Programme:
    """The limits an admin set for ``currency``, or the defaults."""
    row = session.get(ProgrammeLimits, currency)
    if row is None:
        return Programme(currency=currency)
    return Programme(currency=currency, **{f.name: getattr(row, f.name) for f in fields(Programme) if f.name != "currency"})


def set_limits(session: Session, actor: Actor, currency: str, values: dict[str, str]) -> Programme:
    """Set a currency's limits from an admin's form (amounts in major units). Raise ValidationError."""
    parsed: dict[str, int] = {}
    for name, label in LIMIT_NAMES.items():
        raw = (values.get(name) or "").strip()
        if name == "approval_above" and not raw:
            parsed[name] = None  # no approvals
            continue
        if name == "max_cards_per_order":
            if not raw.isdigit() or not 1 <= int(raw) <= 1000:
                raise ValidationError(f"{label}: a whole number from 1 to 1000", field=name)
            parsed[name] = int(raw)
            continue
        try:
            parsed[name] = Money.parse(raw, currency).minor
        except ValidationError as error:
            raise ValidationError(f"{label}: {error.message}", field=name) from None
    if parsed["max_purchase"] < parsed["min_purchase"]:
        raise ValidationError("The maximum purchase must be at least the minimum", field="max_purchase")
    if parsed["max_card_balance"] < parsed["max_purchase"]:
        raise ValidationError("The maximum card balance must be at least the maximum purchase", field="max_card_balance")
    if parsed["max_daily_per_customer"] < parsed["min_purchase"]:
        raise ValidationError("The daily maximum must be at least the minimum purchase", field="max_daily_per_customer")
    row = session.get(ProgrammeLimits, currency) or ProgrammeLimits(currency=currency)
    for name, value in parsed.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.add(row)
    audit(session, actor, "programme.limits", f"currency:{currency}", **parsed)
    session.flush()
    return programme_for(session, currency)


def check_amount_limits(programme: Programme, amount: Money) -> None:
    """One card's amount within the minimum and maximum purchase and the maximum card balance."""
    if amount.minor > programme.max_card_balance:
        raise LimitExceeded(f"A gift card may hold at most {programme.money(programme.max_card_balance)}", field="amount")
    if amount.minor < programme.min_purchase or amount.minor > programme.max_purchase:
        raise LimitExceeded(
            f"Choose an amount from {programme.money(programme.min_purchase)} to {programme.money(programme.max_purchase)}",
            field="amount",
        )


def check_cards_per_order(programme: Programme, cards: int) -> None:
    """No more cards in one order than the programme allows."""
    if cards > programme.max_cards_per_order:
        raise LimitExceeded(f"An order holds at most {programme.max_cards_per_order} cards", field="quantity")
