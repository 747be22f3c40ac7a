"""How the portal writes values for people, the same in pages and e-mails. No Flask here."""

from __future__ import annotations

from datetime import datetime


def day(value: datetime | None) -> str:
    """``3 March 2027``: the form every message uses."""
    return f"{value.day} {value:%B %Y}" if value else ""
