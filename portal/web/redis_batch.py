"""Redis writes a request makes once its outcome is known, sent together in one round trip just
before the answer leaves: a code look-up's guess given back (``portal.web.guessing``) and the
card id granted to the till that showed the code (``CardGrants``). A redemption by code made a
round trip for each.

A write that Redis refuses runs its fallback instead (the counter or grant kept where Redis-less
operation keeps it), as it would have done on its own.
"""

from __future__ import annotations

from collections.abc import Callable

import redis
from flask import Flask, g, has_request_context

Write = Callable[[redis.client.Pipeline], object]


def later(client: redis.Redis, write: Write, failed: Callable[[], None]) -> bool:
    """Queue ``write`` to ``client`` for the end of this request (``failed`` runs instead if Redis
    refuses it); False outside a request, where the caller writes at once."""
    if not has_request_context():
        return False
    g.setdefault("redis_writes", {}).setdefault(client, []).append((write, failed))
    return True


def _send(response):
    for client, queued in g.pop("redis_writes", {}).items():  # one client in practice: the app's
        try:
            pipe = client.pipeline(transaction=False)
            for write, _ in queued:
                write(pipe)
            pipe.execute()
        except redis.RedisError:
            for _, failed in queued:
                failed()
    return response


def init_app(app: Flask) -> None:
    # An app-wide hook runs after every ``after_this_request`` callback, where guesses are given back.
    app.after_request(_send)
