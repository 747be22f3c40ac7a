"""How people type codes, the one reading for cards, claim codes, gift codes and campaign codes:
spaces, dashes (any Unicode dash or minus) and underscores are separators, and O, I and L are
read as the digits they look like where only digits can stand."""

from __future__ import annotations

import re

SEPARATORS = re.compile(r"[\s\-_\u2010-\u2015\u2212]+")
LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def squeezed(text: str) -> str:
    """The typed code without its separators, in upper case."""
    return SEPARATORS.sub("", text).upper()
