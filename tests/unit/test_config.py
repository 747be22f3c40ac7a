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
    monkeypatch.setenv("PAYMENT_PROVIDER", "stripe")  # production refuses the test provider
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


def test_guessing_limits_and_proxy_hops_come_from_the_environment(monkeypatch):
    """Are the guessing budgets and TRUSTED_PROXY_HOPS read from the environment, with the defaults
    of DESIGN §7 (an account 10, an address 100) and no proxy trusted unless said?"""
    for name in ("TRUSTED_PROXY_HOPS", "GUESS_LIMIT", "GUESS_IP_LIMIT", "GUESS_PREFIX_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    settings = from_environment()
    assert (settings["TRUSTED_PROXY_HOPS"], settings["GUESS_LIMIT"], settings["GUESS_IP_LIMIT"]) == (0, 10, 100)
    monkeypatch.setenv("TRUSTED_PROXY_HOPS", "1")
    monkeypatch.setenv("GUESS_PREFIX_LIMIT", "12")
    settings = from_environment()
    assert (settings["TRUSTED_PROXY_HOPS"], settings["GUESS_PREFIX_LIMIT"]) == (1, 12)


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
def test_a_count_setting_that_is_no_whole_number_stops_the_start(monkeypatch, value):
    """Does a mistyped TRUSTED_PROXY_HOPS stop the app with its name, rather than trust a guess?"""
    monkeypatch.setenv("TRUSTED_PROXY_HOPS", value)
    with pytest.raises(RuntimeError, match="TRUSTED_PROXY_HOPS must be a whole number"):
        from_environment()


def test_the_e_mail_backoff_comes_from_the_environment_and_a_mistyped_one_stops_the_start(monkeypatch):
    """Does OUTBOX_RETRY_SECONDS set the waits between an e-mail's tries, and a list that is not
    whole seconds stop the app with its name?"""
    assert from_environment()["OUTBOX_RETRY_INTERVALS"] is None  # the defaults in portal/notifications/delivery.py
    monkeypatch.setenv("OUTBOX_RETRY_SECONDS", "5, 30,120")
    assert from_environment()["OUTBOX_RETRY_INTERVALS"] == [5, 30, 120]
    monkeypatch.setenv("OUTBOX_RETRY_SECONDS", "5,soon")
    with pytest.raises(RuntimeError, match="OUTBOX_RETRY_SECONDS must be whole numbers of seconds"):
        from_environment()


def test_every_limit_of_the_security_table_can_be_tuned_from_the_environment(monkeypatch):
    """Can an operator raise or lower each throttle of the README's Security section without a
    code change?"""
    tuned = {
        "SIGNIN_LIMIT": "4", "SIGNIN_IP_LIMIT": "40", "SIGNIN_WINDOW_SECONDS": "300",
        "SIGNUP_EMAIL_LIMIT": "2", "SIGNUP_IP_LIMIT": "9", "SIGNUP_WINDOW_SECONDS": "600",
        "API_RATE_LIMIT": "30", "API_RATE_WINDOW_SECONDS": "10", "CARD_GRANT_SECONDS": "120",
    }
    for name, value in tuned.items():
        monkeypatch.setenv(name, value)
    settings = from_environment()
    assert {name: settings[name] for name in tuned} == {name: int(value) for name, value in tuned.items()}


def test_the_shop_sells_in_usd_unless_shop_currency_says_otherwise(monkeypatch):
    """Is SHOP_CURRENCY read (any case), USD by default, and a code the portal does not know refused?"""
    monkeypatch.delenv("SHOP_CURRENCY", raising=False)
    assert from_environment()["SHOP_CURRENCY"] == "USD"
    monkeypatch.setenv("SHOP_CURRENCY", " eur ")
    assert from_environment()["SHOP_CURRENCY"] == "EUR"
    for bad in ("LOOP", "EURO", "XYZ"):
        monkeypatch.setenv("SHOP_CURRENCY", bad)
        with pytest.raises(RuntimeError, match="SHOP_CURRENCY must be an ISO 4217 currency code"):
            from_environment()
