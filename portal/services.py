"""Long-lived handles the app builds once: Redis, throttles, the code vault and QR tokens."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from flask import Flask, current_app

from portal.cards.codes import CodeVault, QrTokens
from portal.cards.grants import CardGrants
from portal.customer_codes import CustomerCodes
from portal.extensions import db
from portal.throttle import DatabaseCounters, LocalCounters, Throttle
from portal.web import redis_batch


@dataclass
class Services:
    redis: redis.Redis | None
    signin_throttle: Throttle
    signup_throttle: Throttle
    guess_throttle: Throttle
    vault: CodeVault
    qr: QrTokens
    card_grants: CardGrants
    customer_codes: CustomerCodes


def init_app(app: Flask) -> None:
    cfg = app.config
    client = None
    if cfg.get("REDIS_URL"):
        # Short timeouts: a Redis outage must not stall pages or redemptions.
        client = redis.Redis.from_url(
            cfg["REDIS_URL"], socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
        )
    # With Redis configured there are several app processes: while it is down they count together
    # in the database. Without it (the embedded default) there is one process, which counts alone.
    fallback = DatabaseCounters(lambda: db.engine) if client is not None else LocalCounters()
    app.extensions["giftloop"] = Services(
        redis=client,
        signin_throttle=Throttle(
            "signin", cfg["SIGNIN_LIMIT"], cfg["SIGNIN_WINDOW_SECONDS"], client, fallback=fallback,
            per_kind={"ip": cfg["SIGNIN_IP_LIMIT"]},
        ),
        signup_throttle=Throttle(
            "signup", cfg["SIGNUP_EMAIL_LIMIT"], cfg["SIGNUP_WINDOW_SECONDS"], client, fallback=fallback,
            per_kind={"ip": cfg["SIGNUP_IP_LIMIT"]},
        ),
        guess_throttle=Throttle(
            "guess", cfg["GUESS_LIMIT"], cfg["GUESS_WINDOW_SECONDS"], client, fallback=fallback,
            per_kind={"ip": cfg["GUESS_IP_LIMIT"], "prefix": cfg["GUESS_PREFIX_LIMIT"]},
        ),
        vault=CodeVault(cfg["PORTAL_CODE_KEY"]),
        qr=QrTokens(cfg["SECRET_KEY"]),
        card_grants=CardGrants(cfg["CARD_GRANT_SECONDS"], client, later=redis_batch.later),
        customer_codes=CustomerCodes(cfg["SECRET_KEY"]),
    )


def services() -> Services:
    """The current app's services."""
    return current_app.extensions["giftloop"]
