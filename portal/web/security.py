"""Security headers on every response, with a CSP that needs no inline script."""

from __future__ import annotations

from flask import Flask

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


# Every response's headers, built once: a response that set one of its own keeps it.
HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    # The merchant till may use the camera to scan QR codes; nothing else may.
    ("Permissions-Policy", "camera=(self), microphone=(), geolocation=()"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000")
# Pages show balances: never in shared caches, always revalidated.
PAGE_CACHING = ("Cache-Control", "private, no-cache")


def init_app(app: Flask) -> None:
    @app.after_request
    def _headers(response):
        headers = response.headers
        present = {name.lower() for name in headers.keys()}
        wanted = HEADERS + ((HSTS,) if app.config.get("SESSION_COOKIE_SECURE") else ())
        wanted += (PAGE_CACHING,) if response.mimetype == "text/html" else ()
        headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
        return response
