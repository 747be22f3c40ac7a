"""Gift card codes: generation, check character, forgiving input, masking, keyed storage, QR tokens."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal.cards.typed import LOOKALIKES, SEPARATORS, squeezed
from portal.errors import ValidationError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_DATA_SYMBOLS = 16  # 16 x 5 bits = 80 random bits
# The first data symbols, which a guesser aiming at one card (seen in part) would keep fixed: the
# guessing limits count failures per prefix too (DESIGN §7). 30 bits: random guesses never share one.
_GUESSED_PREFIX = 6
_PREFIX = "GC"

# Crockford's decoding rules for look-alikes; U stays invalid (it was left out to avoid accidental obscenity).
# Spaces, dashes (including the typographic ones mail clients substitute) and underscores are ignored.
_CAMPAIGN_SEPARATORS = re.compile(r"[\s\-]+")  # campaign codes keep their underscores
CARD_CODE_RE = re.compile(r"GC-[0-9A-HJKMNP-TV-Z]{4}(?:-[0-9A-HJKMNP-TV-Z]{4}){3}-[0-9A-HJKMNP-TV-Z]")

_NOT_A_CODE = (
    "That doesn't look like a gift card code: it should be GC- followed by 17 letters and digits, "
    "like GC-XXXX-XXXX-XXXX-XXXX-X"
)
_TYPO = "That code has a typo: please check it and try again"

# --- Check character -------------------------------------------------------------------------
#
# Symbols are elements of GF(32) = GF(2)[x]/(x^5 + x^2 + 1). That polynomial is primitive, so
# alpha = x (the value 2) has multiplicative order 31. The check is the Horner loop
#     interim = 0;  for each symbol v: interim = alpha*interim XOR v
# run over the 16 data symbols and the check symbol c, with c chosen so the final interim is 0:
#     S = sum_{j=0..16} alpha^(16-j) * v_j = 0      (v_16 = c; "+" is XOR)
# Each position j has weight w_j = alpha^(16-j). These 17 weights are non-zero and pairwise
# distinct, because alpha has order 31 > 16.
# Proof that every single substitution and every adjacent transposition is detected:
#   * Substitution v_j -> v_j + e, e != 0: S changes by w_j * e, a product of two non-zero
#     field elements, hence non-zero; S != 0 and the code is rejected. Holds for the check too.
#   * Swapping v_j and v_k (j != k, v_j != v_k): S changes by
#     w_j v_k + w_k v_j - w_j v_j - w_k v_k = (w_j + w_k)(v_j + v_k)   (characteristic 2),
#     both factors non-zero (distinct weights, distinct symbols), hence non-zero.
#     So every transposition is caught, adjacent or not, including data <-> check symbol.
# (Damm's scheme gets the same guarantees from a quasigroup; a field makes the proof one line.)
_POLY = 0b100101  # x^5 + x^2 + 1


def _times_alpha(value: int) -> int:
    """Multiply a GF(32) element by alpha = x."""
    value <<= 1
    return value ^ _POLY if value & 0b100000 else value


def _syndrome(symbols: str) -> int:
    """Horner sum of the symbols' weighted values; 0 for a code with its correct check symbol."""
    interim = 0
    for ch in symbols:
        interim = _times_alpha(interim) ^ _VALUE[ch]
    return interim


def check_character(data: str) -> str:
    """The check symbol for 16 data symbols: the c making alpha*S(data) XOR c equal 0."""
    return ALPHABET[_times_alpha(_syndrome(data))]


def _display(symbols: str) -> str:
    """Canonical form GC-XXXX-XXXX-XXXX-XXXX-C from 17 symbols."""
    groups = [symbols[i : i + 4] for i in range(0, _DATA_SYMBOLS, 4)]
    return "-".join([_PREFIX, *groups, symbols[_DATA_SYMBOLS:]])


def generate_card_code() -> str:
    """A fresh card code carrying 80 bits from the OS CSPRNG."""
    bits = secrets.randbits(5 * _DATA_SYMBOLS)
    data = "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in reversed(range(_DATA_SYMBOLS)))
    return _display(data + check_character(data))


def _parse(text: object) -> tuple[str | None, str]:
    """(canonical GC-… form, "") for a card code in any forgiving spelling, else (None, why not).

    Answers without raising: bulk generation and storage call it for every campaign code, which
    is not a card code, and an exception per code would cost more than the parse."""
    # The length cap keeps a pasted essay from doing work; isascii keeps "ß".upper() == "SS" out.
    if not isinstance(text, str) or len(text) > 80:
        return None, _NOT_A_CODE
    s = SEPARATORS.sub("", text)
    if not s.isascii():
        return None, _NOT_A_CODE
    s = s.upper()
    # "GC" are valid symbols too, so only the length tells the prefix from data.
    if len(s) == len(_PREFIX) + _DATA_SYMBOLS + 1 and s.startswith(_PREFIX):
        s = s[len(_PREFIX) :]
    s = s.translate(LOOKALIKES)
    if len(s) != _DATA_SYMBOLS + 1 or any(ch not in _VALUE for ch in s):
        return None, _NOT_A_CODE
    if _syndrome(s) != 0:
        return None, _TYPO
    return _display(s), ""


def normalise(text: str) -> str:
    """Canonical GC-… form of a typed card code, or ValidationError (checked before any DB look-up)."""
    code, why_not = _parse(text)
    if code is None:
        raise ValidationError(why_not, field="code")
    return code


def is_card_code(text: str) -> bool:
    """Whether text is a card code with a valid check character (in any forgiving spelling)."""
    return _parse(text)[0] is not None


def _canonical_and_mask(code: str) -> tuple[str, str]:
    card_code = _parse(code)[0]
    if card_code is not None:
        return card_code, "GC-••••-••••-••••-" + card_code[-6:]
    s = code.strip()
    keep = 4 if len(s) >= 8 else len(s) // 2  # never reveal most of a short code
    return _CAMPAIGN_SEPARATORS.sub("", code).upper(), "•" * (len(s) - keep) + s[len(s) - keep :]


def canonical(code: str) -> str:
    """The one spelling we hash: the GC-… form for card codes, else upper-cased without spaces/dashes."""
    return _canonical_and_mask(code)[0]


def mask(code: str) -> str:
    """Safe-to-show form: GC-••••-••••-••••-7F3K-C, or campaign codes with only the tail visible."""
    return _canonical_and_mask(code)[1]


# --- Masking code-shaped text in anything that records a request --------------------------
#
# A request line, an error message or a traceback may carry a code a client put where it should
# not be; what we store or log of it is masked. Prefixed codes (GC- cards, GL- claims, GIFT-
# gifts) are found by shape, dashed or not, in any case; a bare 17-symbol run only when its check character
# says it is a card code, so ordinary words and hashes stay readable. QR tokens hide their MAC.
_PREFIXED = re.compile(r"\b(GIFT|GC|GL)((?:[\-_]*[0-9A-Z]){12,20})\b", re.IGNORECASE)
_BARE = re.compile(r"\b[0-9A-Z]{17}\b", re.IGNORECASE)
_QR_IN_TEXT = re.compile(r"\b(QR1\.[0-9A-Z]+\.[0-9A-Z]+\.)[0-9A-Z]{16}\b", re.IGNORECASE)
_MASK = "••••"


def _mask_prefixed(match: re.Match) -> str:
    if is_card_code(match.group(0)):
        return mask(match.group(0))
    symbols = squeezed(match.group(2))
    return f"{match.group(1).upper()}-{_MASK}-{symbols[-4:]}"


def mask_codes(text: str) -> str:
    """The text with every code-shaped part masked: for request paths, details and log lines."""
    text = _QR_IN_TEXT.sub(lambda m: m.group(1) + _MASK, text)
    text = _PREFIXED.sub(_mask_prefixed, text)
    return _BARE.sub(lambda m: mask(m.group(0)) if is_card_code(m.group(0)) else m.group(0), text)


# --- Storage: keyed hash for look-up, AEAD for reveal -----------------------------------------


def _derive(secret_key: str | bytes, info: bytes) -> bytes:
    """A 32-byte sub-key bound to its purpose, so one key's use cannot help attack another."""
    ikm = secret_key.encode() if isinstance(secret_key, str) else bytes(secret_key)
    if not ikm:
        raise ValueError("A non-empty secret key is required")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(ikm)


class CodeVault:
    """Hashes codes for look-up and encrypts them for display; a DB dump alone yields no code."""

    _AAD = b"giftloop-code-v1"
    _NONCE = 12

    def __init__(self, secret_key: str | bytes) -> None:
        self._mac_key = _derive(secret_key, b"giftloop code hmac")
        self._prefix_key = _derive(secret_key, b"giftloop code prefix")
        self._aead = AESGCM(_derive(secret_key, b"giftloop code encryption"))

    def lookup_hash(self, code: str) -> str:
        """Hex HMAC-SHA256 of the canonical spelling: equal for every way of typing the same code."""
        return self._hash(canonical(code))

    def _hash(self, canonical_code: str) -> str:
        return hmac.new(self._mac_key, canonical_code.encode(), hashlib.sha256).hexdigest()

    def prefix_tag(self, text: object) -> str | None:
        """A keyed tag of a card code's first symbols, the same for every spelling and every code
        that starts alike; None for anything but a card code. Limits and security events name a
        prefix by it, so no part of a code is kept in clear."""
        code = _parse(text)[0]
        if code is None:
            return None
        prefix = code.replace("-", "")[len(_PREFIX) : len(_PREFIX) + _GUESSED_PREFIX]
        return hmac.new(self._prefix_key, prefix.encode(), hashlib.sha256).hexdigest()[:16]

    def seal(self, code: str) -> tuple[str, bytes, str]:
        """What a stored code holds: (look-up hash, ciphertext, mask), the code parsed once."""
        return next(self.seal_many([code]))

    def seal_many(self, codes: list[str]) -> Iterator[tuple[str, bytes, str]]:
        """``seal`` for each code, the nonces drawn in one call: os.urandom releases the GIL, and a
        release per code costs a wait per code while another thread (a generation lane) runs."""
        nonces = os.urandom(self._NONCE * len(codes))
        for n, code in enumerate(codes):
            canonical_code, masked = _canonical_and_mask(code)
            nonce = nonces[n * self._NONCE : (n + 1) * self._NONCE]
            yield self._hash(canonical_code), self._encrypt(code, nonce), masked

    def encrypt(self, code: str) -> bytes:
        """nonce || AES-GCM ciphertext of the code exactly as given (store the display form)."""
        return self._encrypt(code, os.urandom(self._NONCE))

    def _encrypt(self, text: str, nonce: bytes) -> bytes:
        # Each nonce is fresh from the CSPRNG and used once: GCM must never see one twice under a key.
        return nonce + self._aead.encrypt(nonce, text.encode(), self._AAD)

    def decrypt(self, blob: bytes) -> str:
        """The stored code; ValueError if the blob was altered or made with another key."""
        if len(blob) < self._NONCE + 16:
            raise ValueError("Encrypted code is truncated")
        try:
            plain = self._aead.decrypt(blob[: self._NONCE], blob[self._NONCE :], self._AAD)
        except InvalidTag:
            raise ValueError("Encrypted code failed authentication") from None
        return plain.decode()


# --- QR tokens ------------------------------------------------------------------------------
#
# QR1.<code id>.<minute window>.<80-bit HMAC>, all in upper-case Crockford base32 so the whole
# token fits QR "alphanumeric" mode (denser than bytes) and stays near 35 characters.
# A token names the card's stored code (its ``codes`` row), not the card: a card that changes
# hands gets a new code row (portal.cards.ownership), so every token minted before dies with it.

_WINDOW = 60  # seconds per token rotation
_SKEW = 5  # seconds a token may be from the future: app servers' clocks differ slightly
_MAC_SYMBOLS = 16  # 80 bits: plenty for a token that lives two minutes
_QR_RE = re.compile(r"QR1\.([0-9A-HJKMNP-TV-Z]{1,13})\.([0-9A-HJKMNP-TV-Z]{1,8})\.([0-9A-HJKMNP-TV-Z]{16})")


def _b32(n: int) -> str:
    """Crockford base32 of a non-negative int, no leading zeros."""
    out = ALPHABET[n & 31]
    while n := n >> 5:
        out = ALPHABET[n & 31] + out
    return out


def _unb32(text: str) -> int:
    n = 0
    for ch in text:
        n = n << 5 | _VALUE[ch]
    return n


def is_qr_token(text: str) -> bool:
    """Whether text is shaped like a QR token (resolve() decides whether it is valid now)."""
    return isinstance(text, str) and _QR_RE.fullmatch(text.strip().upper()) is not None


class QrTokens:
    """Short signed tokens naming a card's code, rotating every minute, valid for two minute windows."""

    def __init__(self, secret_key: str | bytes) -> None:
        # "code": tokens once named card ids under another key; one of those must never be
        # taken for the code row with the same number.
        self._key = _derive(secret_key, b"giftloop qr token for a code")

    def _mac(self, code_id: int, window: int) -> str:
        digest = hmac.new(self._key, f"QR1.{code_id}.{window}".encode(), hashlib.sha256).digest()
        bits = int.from_bytes(digest[: 5 * _MAC_SYMBOLS // 8])
        return _b32(bits).rjust(_MAC_SYMBOLS, "0")

    def issue(self, code_id: int, now: float | None = None) -> str:
        """The token for the card's code (``GiftCard.code_id``) in the current minute window."""
        if type(code_id) is not int or code_id < 0:
            raise ValueError("code_id must be a non-negative int")
        window = int((time.time() if now is None else now) // _WINDOW)
        return f"QR1.{_b32(code_id)}.{_b32(window)}.{self._mac(code_id, window)}"

    def resolve(self, token: str, now: float | None = None) -> int | None:
        """The code id if the token is genuine and from this or the previous minute, else None."""
        match = _QR_RE.fullmatch(token.strip().upper()) if isinstance(token, str) else None
        if match is None:
            return None
        id_text, window_text, mac = match.groups()
        code_id, window = _unb32(id_text), _unb32(window_text)
        # Only the canonical spelling is genuine, so a token has exactly one form.
        if _b32(code_id) != id_text or _b32(window) != window_text:
            return None
        if not hmac.compare_digest(self._mac(code_id, window), mac):
            return None
        current = time.time() if now is None else now
        if not (window * _WINDOW - _SKEW <= current < (window + 2) * _WINDOW):
            return None
        return code_id
