"""A bar chart drawn on the server as SVG: no script, readable by screen readers with its table."""

from __future__ import annotations

from dataclasses import dataclass

from portal.campaigns.reports import Day

WIDTH, HEIGHT = 720, 200
LEFT, BOTTOM, TOP = 36, 24, 12


@dataclass
class Bar:
    x: float
    width: float
    y_cards: float
    h_cards: float
    y_codes: float
    h_codes: float
    label: str
    title: str
    tick: bool


@dataclass
class Chart:
    bars: list[Bar]
    width: int
    height: int
    baseline: float
    top: int
    gridlines: list[tuple[float, int]]


def _nice_top(peak: int) -> int:
    """The first of 4, 8, 12, 20, 40, 80, … at or above the peak: its quarters are whole, round numbers."""
    magnitude = 1
    while True:
        for step in (4, 8, 12, 20):
            if step * magnitude >= peak:
                return step * magnitude
        magnitude *= 10


def redemptions_chart(days: list[Day]) -> Chart:
    """Stacked bars per day: card payments below, code uses above."""
    peak = max((d.total for d in days), default=0)
    top = _nice_top(max(peak, 1))
    plot = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(len(days), 1)
    width = max(slot * 0.7, 1)
    baseline = HEIGHT - BOTTOM
    bars = []
    for i, day in enumerate(days):
        h_cards = plot * day.card_payments / top
        h_codes = plot * day.code_uses / top
        x = LEFT + i * slot + (slot - width) / 2
        bars.append(Bar(
            x=round(x, 1), width=round(width, 1),
            y_cards=round(baseline - h_cards, 1), h_cards=round(h_cards, 1),
            y_codes=round(baseline - h_cards - h_codes, 1), h_codes=round(h_codes, 1),
            label=f"{day.day.day} {day.day:%b}",
            title=f"{day.day.isoformat()}: {day.card_payments} card payments, {day.code_uses} code uses",
            tick=i % 5 == 0 or i == len(days) - 1,
        ))
    gridlines = [(round(baseline - plot * k / 4, 1), top * k // 4) for k in range(5)]
    return Chart(bars, WIDTH, HEIGHT, baseline, top, gridlines)
