"""Who moves money: a user, an API token or the system; the actor scopes idempotency keys."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """The person, token or process behind a ledger transaction."""

    user_id: int | None = None
    token_id: int | None = None
    merchant_id: int | None = None

    def key(self) -> str:
        """The scope of idempotency keys: "token:3", "user:7" or "system"."""
        if self.token_id is not None:
            return f"token:{self.token_id}"
        if self.user_id is not None:
            return f"user:{self.user_id}"
        return "system"


SYSTEM = Actor()
