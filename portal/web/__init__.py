"""Shared view helpers: page-or-fragment rendering, guards, security headers, errors."""
