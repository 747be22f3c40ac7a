"""Problem documents (RFC 9457) for the API: one table from domain code to HTTP status."""

from __future__ import annotations

from flask import jsonify

from portal.errors import DomainError

STATUS = {
    "validation_error": 422,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "expired": 422,
    "frozen": 422,
    "cancelled": 422,
    "insufficient_funds": 422,
    "currency_mismatch": 422,
    "not_valid_here": 422,
    "usage_limit_reached": 422,
    "already_redeemed": 422,
    "rate_limited": 429,
    "idempotency_conflict": 422,
    "idempotency_in_progress": 409,
    "hold_not_open": 409,
    "bad_request": 400,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "gone": 410,
    "server_error": 500,
}

TITLES = {
    "validation_error": "The request is not valid",
    "unauthorized": "A valid bearer token is needed",
    "forbidden": "This token may not do that",
    "not_found": "Not found",
    "rate_limited": "Too many attempts",
    "bad_request": "Bad request",
    "method_not_allowed": "This method is not allowed here",
    "payload_too_large": "The request body is too large",
    "gone": "This endpoint was retired",
    "server_error": "Something went wrong on our side",
}


def problem(code: str, detail: str, *, status: int | None = None, headers: dict | None = None, **extra):
    """A problem+json response with a stable ``code``."""
    status = status or STATUS.get(code, 422)
    body = {
        "type": f"https://giftloop.example/problems/{code}",
        "title": TITLES.get(code, detail),
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_domain_error(error: DomainError):
    """Translate a refused domain operation into its problem document."""
    extra = {"field": error.field} if error.field else {}
    if getattr(error, "pointer", None):
        extra["pointer"] = error.pointer
    headers = {}
    if getattr(error, "retry_after", None):
        headers["Retry-After"] = str(error.retry_after)
    return problem(error.code, error.message, headers=headers, **extra)
