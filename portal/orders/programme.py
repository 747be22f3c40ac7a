"""What the shop sells: the preset amounts, the card faces, and the bounds of a purchase."""

from __future__ import annotations

from dataclasses import dataclass

from portal.models.orders import CARD_DESIGNS

DESIGN_NAMES = {"classic": "Classic", "birthday": "Birthday", "thanks": "Thank you", "celebrate": "Celebrate"}
assert set(DESIGN_NAMES) == set(CARD_DESIGNS)


@dataclass(frozen=True)
class Programme:
    """The shop's offer in one currency, in minor units."""

    currency: str
    presets: tuple[int, ...]
    minimum: int
    maximum: int
    max_cards_per_order: int


def programme_for(currency: str) -> Programme:
    """The offer in ``currency`` (the same defaults for every currency until admins set limits)."""
    return Programme(
        currency=currency, presets=(1000, 2500, 5000, 10000), minimum=500, maximum=50000, max_cards_per_order=50,
    )
