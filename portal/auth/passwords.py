"""Password hashing with Argon2id (OWASP: at least 19 MiB of memory, two passes)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Compared against when the e-mail is unknown, so a wrong address costs as long as a wrong password.
_DUMMY = _hasher.hash("not a real password")


def configure(memory_kib: int, time_cost: int) -> None:
    """Set the cost (tests may lower it; production keeps the OWASP minimum or more)."""
    global _hasher, _DUMMY
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
    _DUMMY = _hasher.hash("not a real password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; always does the work of one verification."""
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False
