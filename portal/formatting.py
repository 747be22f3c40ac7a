"""How the portal writes values for people, the same in pages and e-mails. No Flask here."""

from __future__ import annotations

from datetime import date


def day(value: date | str | None) -> str:
    """``3 March 2027``: the form every message uses. Also a day as ISO text ("2027-03-03"), as a
    message's context carries one."""
    if isinstance(value, str) and value:
        value = date.fromisoformat(value)
    return f"{value.day} {value:%B %Y}" if value else ""
