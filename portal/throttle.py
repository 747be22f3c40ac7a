"""Failure counters with a fixed window: in Redis, or in this process when Redis is away.

Used for sign-in attempts and for code guessing (DESIGN §7). A subject is a string such
as ``ip:203.0.113.9`` or ``user:7``; past ``limit`` failures in ``window`` seconds the
subject is refused until the window ends.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

log = logging.getLogger(__name__)
REDIS_PAUSE_SECONDS = 5.0


class _LocalCounters:
    """In-process counters: the embedded default, and the fallback while Redis is down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def incr(self, key: str, window: int) -> int:
        now = time.monotonic()
        with self._lock:
            count, ends = self._counts.get(key, (0, now + window))
            if ends <= now:
                count, ends = 0, now + window
            self._counts[key] = (count + 1, ends)
            return count + 1

    def get(self, key: str) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            count, ends = self._counts.get(key, (0, now))
            if ends <= now:
                return 0, 0
            return count, max(1, int(ends - now + 0.999))

    def delete(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


class Throttle:
    """Count failures per subject and tell how long a subject must wait."""

    def __init__(
        self, name: str, limit: int, window: int, client: redis.Redis | None, *, per_kind: dict[str, int] | None = None
    ):
        self.name, self.limit, self.window = name, limit, window
        # A kind of subject may have its own limit: many people share one address behind NAT.
        self.per_kind = per_kind or {}
        self._redis = client
        self._local = _LocalCounters()
        # After a Redis error, skip Redis for a few seconds rather than wait on it every request.
        self._redis_resumes_at = 0.0

    def _remote(self) -> redis.Redis | None:
        if self._redis is None or time.monotonic() < self._redis_resumes_at:
            return None
        return self._redis

    def _redis_failed(self) -> None:
        self._redis_resumes_at = time.monotonic() + REDIS_PAUSE_SECONDS
        log.warning("Redis unavailable; throttle %s counts in this process for now", self.name)

    def limit_for(self, subject: str) -> int:
        return self.per_kind.get(subject.partition(":")[0], self.limit)

    def _key(self, subject: str) -> str:
        return f"giftloop:throttle:{self.name}:{subject}"

    def fail(self, *subjects: str) -> list[str]:
        """Count one failure for each subject; return those that just reached the limit."""
        reached = []
        for subject in subjects:
            if self._incr(self._key(subject)) == self.limit_for(subject):
                reached.append(subject)
        return reached

    def retry_after(self, *subjects: str) -> int:
        """Seconds until every subject may try again; 0 when none is over the limit."""
        wait = 0
        for subject in subjects:
            count, ttl = self._get(self._key(subject))
            if count >= self.limit_for(subject):
                wait = max(wait, ttl)
        return wait

    def clear(self, *subjects: str) -> None:
        """Forget the failures of these subjects (after a success)."""
        for subject in subjects:
            key = self._key(subject)
            self._local.delete(key)
            if (remote := self._remote()) is not None:
                try:
                    remote.delete(key)
                except redis.RedisError:
                    self._redis_failed()

    def _incr(self, key: str) -> int:
        if (remote := self._remote()) is not None:
            try:
                pipe = remote.pipeline()
                pipe.incr(key)
                pipe.expire(key, self.window, nx=True)
                return int(pipe.execute()[0])
            except redis.RedisError:
                self._redis_failed()
        return self._local.incr(key, self.window)

    def _get(self, key: str) -> tuple[int, int]:
        local = self._local.get(key)
        if (remote := self._remote()) is not None:
            try:
                pipe = remote.pipeline()
                pipe.get(key)
                pipe.ttl(key)
                count, ttl = pipe.execute()
                return max((int(count or 0), max(int(ttl), 1)), local)
            except redis.RedisError:
                self._redis_failed()
        return local
