"""Gift codes: ``GIFT-`` and 16 Crockford symbols (80 random bits), stored like every code.

A gift code is kept as a keyed hash (to find it) and a ciphertext (for the buyer to see again),
never in clear. Input is forgiving as for card codes: any case, spaces and dashes ignored, and
O→0, I/L→1 after the prefix.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.campaigns.codes import random_code
from portal.cards.codes import ALPHABET, CodeVault
from portal.cards.typed import LOOKALIKES, squeezed
from portal.errors import NotFound, ValidationError
from portal.models import Code
from portal.models.gifts import GiftSubscription

PREFIX = "GIFT"
SYMBOLS = 16
NO_SUCH_GIFT = "We don't recognise that gift code: please check it and try again"


def new_gift_code() -> str:
    """A fresh gift code, GIFT-XXXX-XXXX-XXXX-XXXX, from the OS CSPRNG."""
    return random_code(PREFIX, SYMBOLS)


def looks_like_gift_code(text: object) -> bool:
    """Whether the text has a gift code's shape (GIFT and 16 more letters and digits)."""
    if not isinstance(text, str) or len(text) > 80:
        return False
    compact = squeezed(text)
    return compact.startswith(PREFIX) and len(compact) == len(PREFIX) + SYMBOLS


def normalise_gift_code(text: object) -> str:
    """The canonical GIFT-… form of a typed gift code; raise ValidationError if it is not shaped like one."""
    if not looks_like_gift_code(text):
        raise ValidationError(
            "That doesn't look like a gift code: it should look like GIFT-XXXX-XXXX-XXXX-XXXX", field="gift_code"
        )
    symbols = squeezed(text)[len(PREFIX):].translate(LOOKALIKES)
    if any(ch not in ALPHABET for ch in symbols):
        raise ValidationError("That gift code has a letter that is never used in codes", field="gift_code")
    return "-".join([PREFIX, *(symbols[i : i + 4] for i in range(0, SYMBOLS, 4))])


def masked(code: str) -> str:
    """GIFT-••••-••••-••••-7F3K: what pages, lists and logs show of a gift code."""
    return "-".join([PREFIX, "••••", "••••", "••••", code[-4:]])


def store_code(session: Session, vault: CodeVault, code: str) -> Code:
    """Keep a new gift code as its hash, ciphertext and masked form."""
    stored = Code(lookup_hash=vault.lookup_hash(code), ciphertext=vault.encrypt(code), masked=masked(code))
    session.add(stored)
    session.flush()
    return stored


def find_gift(session: Session, vault: CodeVault, text: object) -> GiftSubscription:
    """The gift with this code (any forgiving spelling).

    Raise ValidationError for text not shaped like a gift code, NotFound if no gift has it.
    """
    code = normalise_gift_code(text)
    gift = session.scalar(
        sa.select(GiftSubscription)
        .join(Code, Code.id == GiftSubscription.code_id)
        .where(Code.lookup_hash == vault.lookup_hash(code))
    )
    if gift is None:
        raise NotFound(NO_SUCH_GIFT, field="gift_code")
    return gift


def full_code(vault: CodeVault, gift: GiftSubscription) -> str:
    """The gift's code in full: for its buyer only."""
    return vault.decrypt(gift.code.ciphertext)
