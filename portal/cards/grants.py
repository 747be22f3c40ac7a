"""Which cards a till may name by id: those whose code (or QR token) its user showed lately.

Card ids count up and are no secret, so an id alone must not do what only the code may do
(DESIGN §5, §7): a look-up, a redemption by code or an issue grants the user the card's id for
a while, tied to the card's current code, so a card that gets a new code (a claim, a transfer)
drops every grant at once. Grants live in Redis, or in this process while Redis is away (then a
call by id on another worker finds none and the till sends the code in the body instead).
"""

from __future__ import annotations

import threading
import time

import redis

from portal.models import GiftCard
from portal.throttle import Later

REDIS_PAUSE_SECONDS = 5.0


def _proof(card: GiftCard) -> str:
    """What the grant remembers of the card's code: a prefix of its keyed hash, never the code."""
    return card.code.lookup_hash[:32]  # as grant_shown keeps it


class CardGrants:
    def __init__(self, seconds: int, client: redis.Redis | None, later: Later | None = None) -> None:
        """``later`` queues a grant with the request's other Redis writes (``portal.web.redis_batch``)."""
        self.seconds = seconds
        self._redis = client
        self._later = later
        self._redis_resumes_at = 0.0
        self._lock = threading.Lock()
        self._local: dict[str, tuple[str, float]] = {}

    def _key(self, user_id: int, card_id: int) -> str:
        return f"giftloop:card-grant:{user_id}:{card_id}"

    def _remote(self) -> redis.Redis | None:
        if self._redis is None or time.monotonic() < self._redis_resumes_at:
            return None
        return self._redis

    def grant(self, user_id: int, card: GiftCard) -> None:
        """Let the user name this card by id for the next ``seconds``."""
        self.grant_shown(user_id, card.id, card.code.lookup_hash)

    def grant_shown(self, user_id: int, card_id: int, lookup_hash: str) -> None:
        """``grant`` for a card not loaded: its id and its code's keyed hash."""
        key, proof = self._key(user_id, card_id), lookup_hash[:32]

        def failed() -> None:
            self._redis_resumes_at = time.monotonic() + REDIS_PAUSE_SECONDS
            self._grant_here(key, proof)

        if (remote := self._remote()) is not None:
            if self._later is not None and self._later(remote, lambda pipe: pipe.set(key, proof, ex=self.seconds), failed):
                return
            try:
                remote.set(key, proof, ex=self.seconds)
                return
            except redis.RedisError:
                self._redis_resumes_at = time.monotonic() + REDIS_PAUSE_SECONDS
        self._grant_here(key, proof)

    def _grant_here(self, key: str, proof: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._local = {k: v for k, v in self._local.items() if v[1] > now}  # forget expired grants
            self._local[key] = (proof, now + self.seconds)

    def holds(self, user_id: int, card: GiftCard) -> bool:
        """Whether the user showed this card's current code within the last ``seconds``."""
        key, proof = self._key(user_id, card.id), _proof(card)
        if (remote := self._remote()) is not None:
            try:
                stored = remote.get(key)
                return stored is not None and stored.decode() == proof
            except redis.RedisError:
                self._redis_resumes_at = time.monotonic() + REDIS_PAUSE_SECONDS
        with self._lock:
            stored, ends = self._local.get(key, ("", 0.0))
        return stored == proof and ends > time.monotonic()
