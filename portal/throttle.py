"""Failure counters with a fixed window: in Redis, or in the database while Redis is down.

Used for sign-in and sign-up attempts and code guessing (DESIGN §7); the API's per-token request
limit is Flask-Limiter's (``portal.api.ratelimit``), on the same database fallback. A subject is a string
such as ``ip:203.0.113.9`` or ``user:7``; past ``limit`` failures in ``window`` seconds the
subject is refused until the window ends.

An attempt is counted before it is made and given back if it succeeds (``attempt``): checking
first and counting after a failure would let a burst of attempts in flight together all pass
the check, and a guesser sending ten at a time would get more than ``limit`` tries.

Every app process must see one count, or a guesser gets a budget per gunicorn worker: while Redis
is down the counts go to the database (``DatabaseCounters``). Only without Redis configured at all
(the embedded default, one process) do they stay in the process (``LocalCounters``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import redis
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from portal.models import ThrottleCounter, utcnow

log = logging.getLogger(__name__)
REDIS_PAUSE_SECONDS = 5.0
# Give an attempt back only while its window lasts: a DECR after expiry would leave a key below
# zero, with no expiry, that grants extra attempts for ever.
_GIVE_BACK = "if redis.call('exists', KEYS[1]) == 1 then return redis.call('decr', KEYS[1]) end return 0"
# ``later(client, write, failed)``: queue ``write(pipeline)`` with other Redis writes, ``failed()``
# if Redis refuses it; False when it cannot (then write at once). See portal.web.redis_batch.
Later = Callable[[redis.Redis, Callable, Callable[[], None]], bool]


class Counters(Protocol):
    """Where counts live when they are not in Redis."""

    def incr(self, key: str, window: int) -> tuple[int, int]:
        """Count one (a window starting at the first count); the count and the window's seconds left."""

    def get(self, key: str) -> tuple[int, int]:
        """The count in the current window and its seconds left; (0, 0) when no window runs."""

    def decr(self, key: str) -> None:
        """Uncount one, while the window lasts."""

    def delete(self, key: str) -> None:
        """Forget the count."""


class LocalCounters:
    """In-process counters: the embedded default without Redis, which runs as one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def incr(self, key: str, window: int) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            count, ends = self._counts.get(key, (0, now + window))
            if ends <= now:
                count, ends = 0, now + window
            self._counts[key] = (count + 1, ends)
        return count + 1, _seconds_left(ends - now)

    def get(self, key: str) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            count, ends = self._counts.get(key, (0, now))
        if ends <= now:
            return 0, 0
        return count, _seconds_left(ends - now)

    def decr(self, key: str) -> None:
        with self._lock:
            if key in self._counts:
                count, ends = self._counts[key]
                self._counts[key] = (count - 1, ends)

    def delete(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


_UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class DatabaseCounters:
    """Counters in the ``throttle_counters`` table, shared by every app process: the fallback while
    Redis is down. Each statement commits on its own (the request's transaction may roll back, and
    other processes must see the count before the look-up it allows runs)."""

    def __init__(self, engine: Callable[[], sa.Engine]) -> None:
        self._engine = engine  # called per use: Flask-SQLAlchemy's engine lives in the app context
        self._table = ThrottleCounter.__table__

    def _run(self, statement) -> sa.CursorResult:
        with self._engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return conn.execute(statement)

    def incr(self, key: str, window: int) -> tuple[int, int]:
        """One ``INSERT … ON CONFLICT DO UPDATE … RETURNING``: a row lock, no read-then-write race."""
        now, c = utcnow(), self._table.c
        engine = self._engine()
        insert = _UPSERTS[engine.dialect.name](self._table).values(
            key=key, count=1, window_ends=now + timedelta(seconds=window)
        )
        running = c.window_ends > now
        upsert = insert.on_conflict_do_update(
            index_elements=[c.key],
            set_={
                "count": sa.case((running, c.count + 1), else_=1),
                "window_ends": sa.case((running, c.window_ends), else_=insert.excluded.window_ends),
            },
        ).returning(c.count, c.window_ends)
        count, ends = self._run(upsert).one()
        return count, _seconds_left(_until(ends, now))

    def get(self, key: str) -> tuple[int, int]:
        now, c = utcnow(), self._table.c
        row = self._run(sa.select(c.count, c.window_ends).where(c.key == key, c.window_ends > now)).first()
        return (row.count, _seconds_left(_until(row.window_ends, now))) if row else (0, 0)

    def decr(self, key: str) -> None:
        """Uncount one; a count back at nothing loses its row, so attempts that all succeed or are
        refused (a flood of random guesses, each with a prefix of its own) leave no rows behind."""
        c = self._table.c
        self._run(
            sa.update(self._table)
            .where(c.key == key, c.window_ends > utcnow(), c.count > 0)
            .values(count=c.count - 1)
        )
        self._run(sa.delete(self._table).where(c.key == key, c.count <= 0))

    def delete(self, key: str) -> None:
        self._run(sa.delete(self._table).where(self._table.c.key == key))

    def prune(self, now: datetime | None = None) -> int:
        """Delete the counts whose window has ended (an outage's failures stay behind otherwise);
        the daily sweep calls this. Return how many went."""
        return self._run(sa.delete(self._table).where(self._table.c.window_ends <= (now or utcnow()))).rowcount


def _until(ends: datetime, now: datetime) -> float:
    return (ends - now).total_seconds()


def _seconds_left(seconds: float) -> int:
    """Whole seconds, rounded up: a window with any time left has at least one."""
    return max(1, int(seconds + 0.999))


@dataclass
class Attempt:
    """An attempt counted in advance: ``wait`` > 0 means it was refused (and not counted)."""

    throttle: Throttle
    subjects: tuple[str, ...]
    wait: int = 0
    # Subjects this attempt brings to their limit, should it fail.
    reaching: list[str] = field(default_factory=list)

    def succeeded(self, later: Later | None = None) -> None:
        """The attempt worked (or was refused for a reason that is no guess): it does not count."""
        self.throttle.give_back(*self.subjects, later=later)

    def failed(self) -> list[str]:
        """The attempt failed and stays counted; returns the subjects it brought to their limit."""
        return self.reaching


class Throttle:
    """Count failures per subject and tell how long a subject must wait."""

    def __init__(
        self, name: str, limit: int, window: int, client: redis.Redis | None, *,
        fallback: Counters | None = None, per_kind: dict[str, int] | None = None,
    ):
        self.name, self.limit, self.window = name, limit, window
        # A kind of subject may have its own limit: many people share one address behind NAT.
        self.per_kind = per_kind or {}
        self._redis = client
        # Where counts go while Redis is away (or, without Redis, always).
        self._fallback = fallback or LocalCounters()
        # After a Redis error, skip Redis for a few seconds rather than wait on it every request.
        self._redis_resumes_at = 0.0

    def _remote(self) -> redis.Redis | None:
        if self._redis is None or time.monotonic() < self._redis_resumes_at:
            return None
        return self._redis

    def _redis_failed(self) -> None:
        self._redis_resumes_at = time.monotonic() + REDIS_PAUSE_SECONDS
        log.warning("Redis unavailable; throttle %s counts in its fallback (%s) for now",
                    self.name, type(self._fallback).__name__)

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

    def give_back(self, *subjects: str, later: Later | None = None) -> None:
        """Uncount one attempt of each subject (one round trip to Redis for all; with ``later``,
        queued with the request's other Redis writes, see ``portal.web.redis_batch``)."""
        keys = [self._key(subject) for subject in subjects]

        def write(pipe) -> None:
            for key in keys:
                pipe.eval(_GIVE_BACK, 1, key)

        def here() -> None:
            for key in keys:
                self._fallback.decr(key)

        def failed() -> None:
            self._redis_failed()
            here()

        if (remote := self._remote()) is not None:
            if later is not None and later(remote, write, failed):
                return
            try:
                pipe = remote.pipeline(transaction=False)
                write(pipe)
                pipe.execute()
                return
            except redis.RedisError:
                self._redis_failed()
        here()

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
            self._fallback.delete(key)
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
        return [self._fallback.incr(key, self.window) for key in keys]

    def _get(self, key: str) -> tuple[int, int]:
        fallback = self._fallback.get(key)
        if (remote := self._remote()) is not None:
            try:
                pipe = remote.pipeline()
                pipe.get(key)
                pipe.ttl(key)
                count, ttl = pipe.execute()
                return max((int(count or 0), max(int(ttl), 1)), fallback)
            except redis.RedisError:
                self._redis_failed()
        return fallback
