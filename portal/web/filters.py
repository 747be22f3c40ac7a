"""Jinja filters: money for display, dates in words, people's names on one line."""

from __future__ import annotations

import unicodedata

from flask import Flask

from portal.formatting import day
from portal.money import display


def one_line(text: str | None) -> str:
    """A name someone typed, safe to quote in an e-mail: line breaks, tabs and other control and
    format characters (right-to-left overrides among them) become single spaces, so the name
    cannot start a paragraph of its own or reorder the words around it. HTML escaping is still
    the template's."""
    cleaned = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text or "")
    return " ".join(cleaned.split())


def init_app(app: Flask) -> None:
    app.add_template_filter(display, "money")
    app.add_template_filter(day)
    app.add_template_filter(one_line)
