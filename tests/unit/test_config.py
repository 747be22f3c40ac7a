"""Settings from the environment (DESIGN §1) and the headers every response carries."""

from __future__ import annotations

import pytest

from portal.config import database_url, from_environment


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u:p@db:5432/gl", "postgresql+psycopg://u:p@db:5432/gl"),
        ("postgres://u@db/gl", "postgresql+psycopg://u@db/gl"),
        ("postgresql+psycopg://u@db/gl", "postgresql+psycopg://u@db/gl"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_a_plain_postgresql_url_gets_the_installed_driver(given, used):
    """Is a platform's plain postgresql:// URL accepted as it is handed out?"""
    assert database_url(given) == used


def test_without_a_database_url_the_embedded_sqlite_file_is_used():
    assert database_url(None).startswith("sqlite:///") and database_url(None).endswith("instance/portal.db")


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    """Does production insist on a SECRET_KEY instead of inventing one?"""
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY must be set"):
        from_environment()


def test_production_cookies_are_secure_and_the_code_key_defaults_to_the_secret(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.delenv("PORTAL_CODE_KEY", raising=False)
    settings = from_environment()
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["PORTAL_CODE_KEY"] == "s" * 40


def test_every_page_carries_the_security_headers(client):
    """Is each page served with a CSP that forbids inline script, and the other hardening headers?"""
    response = client.get("/signin")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_page_has_no_inline_script(client):
    """Is every <script> on a page loaded from a file (so the CSP needs no exception)?"""
    html = client.get("/signin").get_data(as_text=True)
    import re

    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all('src="' in attrs and body.strip() == "" for attrs, body in scripts)
