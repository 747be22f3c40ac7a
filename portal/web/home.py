"""Where each role lands: after signing in, and on the welcome page when signed in already."""

from __future__ import annotations

from flask import url_for

HOME = {"customer": "customer.dashboard", "merchant": "merchant.checkout", "admin": "admin.overview"}


def home_for(user) -> str:
    """The URL a user lands on after signing in."""
    return url_for(HOME[user.role])
