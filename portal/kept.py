"""Values kept in this process for a few seconds, per database: what a hot path (an API call's
token, a payment's programme rules) would otherwise ask the database on every request. A change is
seen at once by the process that made it (it forgets) and by every other within those seconds."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

V = TypeVar("V")


class Kept(Generic[V]):
    def __init__(self, seconds: float, entries: int = 1_000) -> None:
        self.seconds, self.entries = seconds, entries
        self._values: dict[tuple[str, object], tuple[float, V]] = {}

    @staticmethod
    def _key(session: Session, key: object) -> tuple[str, object]:
        return str(session.get_bind().url), key  # tests give each database the same keys

    def get(self, session: Session, key: object) -> V | None:
        """The value kept for ``key``, if it is younger than ``seconds``."""
        kept = self._values.get(self._key(session, key))
        return kept[1] if kept is not None and kept[0] > time.monotonic() else None

    def put(self, session: Session, key: object, value: V) -> None:
        if len(self._values) >= self.entries:
            self._values.clear()
        self._values[self._key(session, key)] = (time.monotonic() + self.seconds, value)

    def drop(self, session: Session, key: object) -> None:
        self._values.pop(self._key(session, key), None)

    def clear(self) -> None:
        self._values.clear()
