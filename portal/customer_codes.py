"""The short customer code on a wallet page: it tells a till who the customer is, and that they are there.

``C<user id>-<6 symbols>``, Crockford base32, the symbols an HMAC of the id and a 15-minute window.
It changes every window and a till accepts this window's and the last one's, so a code read off a
screen yesterday (or typed by staff who once saw it) spends nothing today. An e-mail address only
names a customer; this code, or the QR of one of their cards, is what lets a till spend their
wallet credit and Loops.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from portal.cards.codes import ALPHABET, _b32, _derive, _unb32
from portal.cards.typed import LOOKALIKES

WINDOW = 15 * 60  # seconds a code is shown before it changes
_MAC_SYMBOLS = 6  # 30 bits; guesses at the till count towards the guessing lock-out
_CODE_RE = re.compile(r"C([0-9A-HJKMNP-TV-Z]{1,8})-?([0-9A-HJKMNP-TV-Z]{6})")


def _tidy(text: str) -> str:
    """Upper case, no spaces, look-alike letters read as digits (the leading C stays a C)."""
    text = re.sub(r"\s+", "", text or "").upper()
    return text[:1] + text[1:].translate(LOOKALIKES)


def is_customer_code(text: str | None) -> bool:
    """Whether text is shaped like a customer code (``resolve`` decides whether it is valid now)."""
    return isinstance(text, str) and _CODE_RE.fullmatch(_tidy(text)) is not None


class CustomerCodes:
    def __init__(self, secret_key: str | bytes) -> None:
        self._key = _derive(secret_key, b"giftloop customer code")

    def _mac(self, user_id: int, window: int) -> str:
        digest = hmac.new(self._key, f"C1.{user_id}.{window}".encode(), hashlib.sha256).digest()
        bits = int.from_bytes(digest[:4]) >> (32 - 5 * _MAC_SYMBOLS)
        return "".join(ALPHABET[(bits >> 5 * i) & 31] for i in reversed(range(_MAC_SYMBOLS)))

    def issue(self, user_id: int, now: float | None = None) -> str:
        """This window's code for the customer."""
        window = int((time.time() if now is None else now) // WINDOW)
        return f"C{_b32(user_id)}-{self._mac(user_id, window)}"

    def resolve(self, text: str, now: float | None = None) -> int | None:
        """The user id if the code is this window's or the last one's, else None."""
        match = _CODE_RE.fullmatch(_tidy(text)) if isinstance(text, str) else None
        if match is None:
            return None
        id_text, mac = match.groups()
        user_id = _unb32(id_text)
        window = int((time.time() if now is None else now) // WINDOW)
        if any(hmac.compare_digest(self._mac(user_id, w), mac) for w in (window, window - 1)):
            return user_id
        return None
