"""Failure counters with a fixed window: in Redis, or in this process when Redis is away.

Used for sign-in attempts and for code guessing (DESIGN §7). A subject is a string such
as ``ip:203.0.113.9`` or ``user:7``; past ``limit`` failures in ``window`` seconds the
subject is refused until the window ends.

An attempt is counted before it is made and given back if it succeeds (``attempt``): checking
first and counting after a failure would let a burst of attempts in flight together all pass
the check, and a guesser sending ten at a time would get more than ``limit`` tries.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import redis

log = logging.getLogger(__name__)
REDIS_PAUSE_SECONDS = 5.0
# Give an attempt back only while its window lasts: a DECR after expiry would leave a key below
# zero, with no expiry, that grants extra attempts for ever.
_GIVE_BACK = "if redis.call('exists', KEYS[1]) == 1 then return redis.call('decr', KEYS[1]) end return 0"


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

    def decr(self, key: str) -> None:
        with self._lock:
            if key in self._counts:
                count, ends = self._counts[key]
                self._counts[key] = (count - 1, ends)

    def delete(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


@dataclass
class Attempt:
    """An attempt counted in advance: ``wait`` > 0 means it was refused (and not counted)."""

    throttle: Throttle
    subjects: tuple[str, ...]
    wait: int = 0
    # Subjects this attempt brings to their limit, should it fail.
    reaching: list[str] = field(default_factory=list)

    def succeeded(self) -> None:
        """The attempt worked (or was refused for a reason that is no guess): it does not count."""
        self.throttle.give_back(*self.subjects)

    def failed(self) -> list[str]:
        """The attempt failed and stays counted; returns the subjects it brought to their limit."""
        return self.reaching


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
        counted = self._count(subjects)
        return [subject for subject, (count, _) in zip(subjects, counted) if count == self.limit_for(subject)]

    def attempt(self, *subjects: str) -> Attempt:
        """Count an attempt for each subject before it is made; refused (``wait``) past the limit."""
        counts = [(subject, count) for subject, (count, _) in zip(subjects, self._count(subjects))]
        if any(count > self.limit_for(subject) for subject, count in counts):
            self.give_back(*subjects)
            return Attempt(self, subjects, wait=max(1, self.retry_after(*subjects)))
        return Attempt(self, subjects, reaching=[s for s, count in counts if count == self.limit_for(s)])

    def give_back(self, *subjects: str) -> None:
        """Uncount one attempt of each subject (one round trip to Redis for all)."""
        keys = [self._key(subject) for subject in subjects]
        if (remote := self._remote()) is not None:
            try:
                pipe = remote.pipeline(transaction=False)
                for key in keys:
                    pipe.eval(_GIVE_BACK, 1, key)
                pipe.execute()
                return
            except redis.RedisError:
                self._redis_failed()
        for key in keys:
            self._local.decr(key)

    def hit(self, subject: str) -> tuple[int, int]:
        """Count one event for the subject; return the count in this window and its seconds left."""
        return self._count((subject,))[0]

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

    def _count(self, subjects) -> list[tuple[int, int]]:
        """Count one for each subject (its window starting at its first count); return each count
        and the seconds its window has left, in one round trip to Redis."""
        keys = [self._key(subject) for subject in subjects]
        if (remote := self._remote()) is not None:
            try:
                pipe = remote.pipeline()
                for key in keys:
                    pipe.incr(key)
                    pipe.expire(key, self.window, nx=True)
                    pipe.ttl(key)
                answers = pipe.execute()
                return [(int(count), max(int(ttl), 1)) for count, ttl in zip(answers[0::3], answers[2::3])]
            except redis.RedisError:
                self._redis_failed()
        return [(self._local.incr(key, self.window), self._local.get(key)[1]) for key in keys]

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
