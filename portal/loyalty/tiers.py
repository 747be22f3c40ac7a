"""Tiers by lifetime Loops earned, and the conversion rate each gives (DESIGN §2, Loops)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    name: str
    threshold: int  # lifetime Loops needed
    loops_per_unit: int  # Loops for 1.00 of gift card value


TIERS = (
    Tier("Bronze", 0, 100),
    Tier("Silver", 5_000, 95),
    Tier("Gold", 20_000, 90),
    Tier("Platinum", 50_000, 85),
)


def tier_for(lifetime_loops: int) -> Tier:
    """The highest tier whose threshold the customer has reached."""
    return [tier for tier in TIERS if lifetime_loops >= tier.threshold][-1]


def next_tier(lifetime_loops: int) -> Tier | None:
    """The tier after the current one, or None at the top."""
    later = [tier for tier in TIERS if tier.threshold > lifetime_loops]
    return later[0] if later else None


def progress(lifetime_loops: int) -> tuple[int, int]:
    """(Loops still needed for the next tier, percent of the way there); (0, 100) at the top."""
    current, following = tier_for(lifetime_loops), next_tier(lifetime_loops)
    if following is None:
        return 0, 100
    span = following.threshold - current.threshold
    done = lifetime_loops - current.threshold
    return following.threshold - lifetime_loops, done * 100 // span
