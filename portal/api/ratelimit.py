"""Per-token rate limits (issue 8): so many requests a window per token, then 429 with Retry-After.

Counted in Redis, or in the database while Redis is away: shared by every app process either way,
so a limit never multiplies by the number of gunicorn workers (``portal.throttle``). Every
answer to a token tells where it stands, in the fields of the IETF httpapi RateLimit draft:
``RateLimit-Policy: "token";q=120;w=60`` and ``RateLimit: "token";r=57;t=41``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, current_app, g, request

from portal.services import services
from portal.web.guards import EVERYONE, allowed_roles
from portal.web.problems import problem

POLICY = "token"


@dataclass(frozen=True)
class Standing:
    """Where a token stands in its current window."""

    limit: int
    remaining: int
    reset: int  # seconds until the window ends


def limit_of(token) -> int:
    """The token's own limit, or the app's default."""
    return token.rate_limit or current_app.config["API_RATE_LIMIT"]


def count_request() -> Response | None:
    """Count the request against its token; past the token's limit, refuse it (nothing runs)."""
    token = g.get("api_token")
    if token is None or request.endpoint not in current_app.view_functions or allowed_roles(request.endpoint) is EVERYONE:
        return None  # the document and its page are public: a token sent along does not count
    limit = limit_of(token)
    count, reset = services().api_rate.hit(f"token:{token.id}")
    g.rate_standing = Standing(limit, max(0, limit - count), reset)
    if count <= limit:
        return None
    window = current_app.config["API_RATE_WINDOW_SECONDS"]
    return problem(
        "rate_limited",
        f"This token may make {limit} requests in {window} seconds. Try again in {reset} seconds.",
        headers={"Retry-After": str(reset)},
    )


def tell_standing(response: Response) -> Response:
    """Add the RateLimit fields to every answer to a token."""
    standing = g.get("rate_standing")
    if standing is not None:
        window = current_app.config["API_RATE_WINDOW_SECONDS"]
        response.headers["RateLimit-Policy"] = f'"{POLICY}";q={standing.limit};w={window}'
        response.headers["RateLimit"] = f'"{POLICY}";r={standing.remaining};t={standing.reset}'
    return response
