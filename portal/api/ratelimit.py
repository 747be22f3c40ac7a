"""Per-token rate limits (issues 8 and 23): so many requests a window per token, then 429 with Retry-After.

Counted by Flask-Limiter (a fixed window per token, whatever the endpoint) in Redis, or in memory when
no Redis is configured (the embedded default, one process). While a configured Redis is away the
counts go to the database table every app process shares (``RedisOrDatabase``), so a limit never
multiplies by the number of gunicorn workers. Every answer to a token tells where it stands, in the
fields of the IETF httpapi RateLimit draft: ``RateLimit-Policy: "token";q=120;w=60`` and
``RateLimit: "token";r=57;t=41``.
"""

from __future__ import annotations

import logging
import math
import time

import redis
from flask import Blueprint, Flask, Response, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded
from limits.storage import RedisStorage

from portal.api.tokens import authenticate_request
from portal.extensions import db
from portal.throttle import DatabaseCounters
from portal.web.guards import EVERYONE, allowed_roles
from portal.web.problems import problem

log = logging.getLogger(__name__)
POLICY = "token"
SCHEME = "giftloop+"


class RedisOrDatabase(RedisStorage):
    """Redis, and while it does not answer, the database's shared counters (``portal.throttle``)."""

    STORAGE_SCHEME = [f"{SCHEME}redis", f"{SCHEME}rediss"]

    def __init__(self, uri: str, **options) -> None:
        super().__init__(uri.removeprefix(SCHEME), **options)
        self.counters = DatabaseCounters(lambda: db.engine)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        try:
            return super().incr(key, expiry, amount)
        except redis.RedisError:
            log.warning("Redis unavailable; the API rate limit counts in the database for now")
            return self.counters.incr(self.prefixed_key(key), expiry)[0]

    def get(self, key: str) -> int:
        try:
            return super().get(key)
        except redis.RedisError:
            return self.counters.get(self.prefixed_key(key))[0]

    def get_expiry(self, key: str) -> float:
        try:
            return super().get_expiry(key)
        except redis.RedisError:
            return time.time() + self.counters.get(self.prefixed_key(key))[1]

    def clear(self, key: str) -> None:
        self.counters.delete(self.prefixed_key(key))
        try:
            super().clear(key)
        except redis.RedisError:
            pass


def _token():
    """The request's token, looked up once (the limit is checked before the blueprint's own hooks run)."""
    authenticate_request()
    return g.api_token


def _not_counted() -> bool:
    """Only calls to the API with a token count; the document and its page are public and never do."""
    if request.blueprint != "api" or request.endpoint not in current_app.view_functions:
        return True
    return allowed_roles(request.endpoint) is EVERYONE or _token() is None


def limit_of(token) -> int:
    """The token's own limit, or the app's default."""
    return token.rate_limit or current_app.config["API_RATE_LIMIT"]


def _limit() -> str:
    token = _token() if request.blueprint == "api" else None
    amount = limit_of(token) if token is not None else current_app.config["API_RATE_LIMIT"]
    return f"{amount} per {current_app.config['API_RATE_WINDOW_SECONDS']} second"


def init_app(state) -> None:
    """Give the app its own limiter (its counts are its own: tests build many apps in one process)."""
    app: Flask = state.app
    url = app.config.get("REDIS_URL")
    limiter = Limiter(
        key_func=lambda: f"token:{_token().id}",
        application_limits=[_limit],
        application_limits_exempt_when=_not_counted,
        strategy="fixed-window",
        storage_uri=f"{SCHEME}{url}" if url else "memory://",
        # Short timeouts: a Redis outage must not stall the API.
        storage_options={"socket_timeout": 0.5, "socket_connect_timeout": 0.5} if url else {},
        key_prefix="giftloop:ratelimit",
        headers_enabled=False,  # the draft's fields, written below
    )
    limiter.init_app(app)
    app.extensions["api_limiter"] = limiter


def _refused(error: RateLimitExceeded):
    """Past the token's limit: nothing runs."""
    token, window = g.api_token, current_app.config["API_RATE_WINDOW_SECONDS"]
    wait = _seconds_left(current_app.extensions["api_limiter"].current_limit)
    return problem(
        "rate_limited",
        f"This token may make {limit_of(token)} requests in {window} seconds. Try again in {wait} seconds.",
        headers={"Retry-After": str(wait)},
    )


def tell_standing(response: Response) -> Response:
    """Add the RateLimit fields to every answer to a token."""
    limiter = current_app.extensions["api_limiter"]
    if g.get("api_token") is None or _not_counted() or (standing := limiter.current_limit) is None:
        return response
    window = current_app.config["API_RATE_WINDOW_SECONDS"]
    response.headers["RateLimit-Policy"] = f'"{POLICY}";q={standing.limit.amount};w={window}'
    response.headers["RateLimit"] = f'"{POLICY}";r={standing.remaining};t={_seconds_left(standing)}'
    return response


def _seconds_left(standing) -> int:
    """Whole seconds until the token's window ends (at least one, at most the window)."""
    window = current_app.config["API_RATE_WINDOW_SECONDS"]
    if standing is None:
        return window
    return min(window, max(1, math.ceil(standing.reset_at - time.time())))


def limit_tokens(bp: Blueprint) -> None:
    """Count every call to ``bp`` with a token against the token's limit."""
    bp.record_once(init_app)
    bp.register_error_handler(RateLimitExceeded, _refused)
    bp.after_request(tell_standing)
