"""Jinja filters: money for display, dates in words."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from portal.money import Money


def money(minor: int, currency: str) -> str:
    """``1250, "USD"`` → ``12.50 USD``; Loops read as Loops."""
    return Money(minor, currency).display()


def day(value: datetime | None) -> str:
    """``3 March 2027``: the form every message uses."""
    return f"{value.day} {value:%B %Y}" if value else ""


def init_app(app: Flask) -> None:
    app.add_template_filter(money)
    app.add_template_filter(day)
