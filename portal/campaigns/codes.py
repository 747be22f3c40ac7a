"""Campaign codes: the pattern (a vanity code or random symbols after a prefix), and finding one.

Codes are stored as card codes are (``portal.cards.codes.CodeVault``): a keyed hash to find
them and a ciphertext to show them, never in clear. Random codes use Crockford base32, so
input is forgiving the same way: any case, spaces and dashes ignored, O→0 and I/L→1 after
the prefix.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.cards.codes import ALPHABET, CodeVault, canonical, is_card_code
from portal.cards.typed import LOOKALIKES
from portal.errors import NotFound, ValidationError
from portal.models import Code
from portal.models.campaigns import CODE_MODES, Campaign, CampaignCode

MIN_RANDOM = 10  # 50 bits: a million codes in one campaign stay clear of each other and of guessers
MAX_RANDOM = 24
DEFAULT_RANDOM = 12
_VANITY = re.compile(r"[A-Z0-9]{3,32}")
_PREFIX = re.compile(r"[A-Z0-9]{0,12}")
NO_SUCH_CODE = "We don't recognise that code: please check it and try again"


@dataclass(frozen=True)
class CodePattern:
    """How a campaign's codes look: ``mode`` vanity (one shared code) or random (prefix + symbols)."""

    mode: str
    vanity: str | None = None
    prefix: str = ""
    length: int = DEFAULT_RANDOM


def _squeeze(text: str) -> str:
    return re.sub(r"[\s\-_]+", "", text).upper()


def check_vanity(value: object) -> str:
    """A vanity code: 3 to 32 letters and digits (spaces and dashes are dropped), not card-shaped."""
    code = _squeeze(value) if isinstance(value, str) else ""
    if not _VANITY.fullmatch(code):
        raise ValidationError("A code is 3 to 32 letters and digits, like SAVE20", field="code")
    if is_card_code(code):
        raise ValidationError("That looks like a gift card code; choose another", field="code")
    return code


def check_pattern(mode: object, vanity: object = None, prefix: object = None, length: object = None) -> CodePattern:
    """The code pattern of a campaign: a vanity code, or a prefix and a length of random symbols."""
    if mode not in CODE_MODES:
        raise ValidationError("Codes are either one vanity code or random codes", field="code_mode")
    if mode == "vanity":
        return CodePattern("vanity", vanity=check_vanity(vanity))
    if prefix is not None and not isinstance(prefix, str):
        raise ValidationError("A prefix is up to 12 letters and digits, like SPRING", field="code_prefix")
    clean_prefix = _squeeze(prefix or "")
    if not _PREFIX.fullmatch(clean_prefix):
        raise ValidationError("A prefix is up to 12 letters and digits, like SPRING", field="code_prefix")
    if clean_prefix.startswith("GC"):
        # GC- starts every gift card code; a campaign code must never read as one.
        raise ValidationError("GC is kept for gift card codes; choose another prefix", field="code_prefix")
    if length in (None, ""):
        size = DEFAULT_RANDOM
    else:
        size = int(length) if isinstance(length, str) and length.strip().isdigit() else length
        if isinstance(size, bool) or not isinstance(size, int) or not MIN_RANDOM <= size <= MAX_RANDOM:
            raise ValidationError(
                f"Random codes have {MIN_RANDOM} to {MAX_RANDOM} symbols after the prefix", field="code_length"
            )
    return CodePattern("random", prefix=clean_prefix, length=size)


# Random bytes to symbols: 256 is a multiple of 32, so every symbol is equally likely.
_SYMBOL_OF_BYTE = bytes(ord(ALPHABET[byte % 32]) for byte in range(256))


def random_codes(prefix: str, length: int, count: int) -> list[str]:
    """``count`` fresh codes: the prefix, then ``length`` Crockford symbols from the OS CSPRNG in
    groups of four. Drawn in one call to the CSPRNG, as bulk generation draws a batch."""
    symbols = os.urandom(count * length).translate(_SYMBOL_OF_BYTE).decode()
    codes = []
    for start in range(0, count * length, length):
        code = symbols[start : start + length]
        groups = [code[i : i + 4] for i in range(0, length, 4)]
        codes.append("-".join([prefix, *groups] if prefix else groups))
    return codes


def random_code(prefix: str, length: int) -> str:
    """One fresh code (see ``random_codes``)."""
    return random_codes(prefix, length, 1)[0]


def display_code(vault: CodeVault, code: Code) -> str:
    """The full code, decrypted: only for whoever is allowed to see it."""
    return vault.decrypt(code.ciphertext)


def _candidates(session: Session, text: str) -> list[str]:
    """Every spelling the typed text may stand for: as typed, and with look-alikes after a prefix."""
    typed = canonical(text)
    spellings = [typed]
    prefixes = session.scalars(
        sa.select(Campaign.code_prefix)
        .where(Campaign.code_mode == "random", Campaign.kind != "gift_card", Campaign.deleted_at.is_(None))
        .distinct()
    ).all()
    for prefix in prefixes:
        if typed.startswith(prefix):
            fixed = prefix + typed[len(prefix) :].translate(LOOKALIKES)
            if fixed not in spellings:
                spellings.append(fixed)
    return spellings


def find_campaign_code(session: Session, vault: CodeVault, text: str) -> CampaignCode:
    """The campaign code typed, in any forgiving spelling (with its campaign).

    Raise ValidationError for empty or overlong text, NotFound if no campaign has the code.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("Enter a code", field="code")
    if len(text) > 80:
        raise NotFound(NO_SUCH_CODE, field="code")
    hashes = [vault.lookup_hash(spelling) for spelling in _candidates(session, text)]
    found = session.scalar(
        sa.select(CampaignCode).join(Code, Code.id == CampaignCode.code_id).where(Code.lookup_hash.in_(hashes)).limit(1)
    )
    if found is None:
        raise NotFound(NO_SUCH_CODE, field="code")
    return found


def vanity_code(session: Session, campaign: Campaign) -> CampaignCode | None:
    """The shared code of a vanity campaign."""
    if campaign.code_mode != "vanity":
        return None
    return session.scalar(sa.select(CampaignCode).where(CampaignCode.campaign_id == campaign.id).limit(1))
